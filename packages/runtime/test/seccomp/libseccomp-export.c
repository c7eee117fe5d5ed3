/* Builds a filter with libseccomp (what runc and crun use) from a line-based description on
 * stdin and writes its BPF to stdout, so tests and the benchmark can hold Berth's compiler
 * against it. Lines:
 *   default ACTION | badarch ACTION | arch x86|x32|x86_64|aarch64 | optimize 1|2
 *   only-listed  (drop the native arch unless listed: to build another arch's filter)
 *   rule ACTION NAME NARGS [INDEX OP VALUE VALUETWO]...      (OP: libseccomp's enum 1..7)
 * ACTION is the raw SECCOMP_RET_* value; values are unsigned decimal. Unknown names are
 * skipped, as runc skips them. */
#include <seccomp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
  char word[64], name[64];
  unsigned int def = 0, badarch = SCMP_ACT_KILL_PROCESS;
  int optimize = 1;
  if (scanf("%63s %u", word, &def) != 2 || strcmp(word, "default") != 0) return 2;
  scmp_filter_ctx ctx = seccomp_init(def);
  if (!ctx) return 3;
  while (scanf("%63s", word) == 1) {
    if (strcmp(word, "badarch") == 0) {
      if (scanf("%u", &badarch) != 1) return 2;
      seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, badarch);
    } else if (strcmp(word, "optimize") == 0) {
      if (scanf("%d", &optimize) != 1) return 2;
      if (seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, optimize) != 0) return 4;
    } else if (strcmp(word, "only-listed") == 0) {
      if (seccomp_arch_remove(ctx, SCMP_ARCH_NATIVE) != 0) return 6;
    } else if (strcmp(word, "arch") == 0) {
      if (scanf("%63s", name) != 1) return 2;
      uint32_t token = seccomp_arch_resolve_name(name);
      if (token == 0) return 5;
      int r = seccomp_arch_add(ctx, token);
      if (r != 0 && r != -17 /* EEXIST: native */) return 6;
    } else if (strcmp(word, "rule") == 0) {
      unsigned int action, nargs;
      if (scanf("%u %63s %u", &action, name, &nargs) != 3 || nargs > 6) return 2;
      struct scmp_arg_cmp cmp[6];
      for (unsigned int i = 0; i < nargs; i++) {
        unsigned int index, op;
        unsigned long long a, b;
        if (scanf("%u %u %llu %llu", &index, &op, &a, &b) != 4) return 2;
        cmp[i] = (struct scmp_arg_cmp){ .arg = index, .op = op, .datum_a = a, .datum_b = b };
      }
      int nr = seccomp_syscall_resolve_name(name);
      if (nr == __NR_SCMP_ERROR) continue;
      int r = seccomp_rule_add_array(ctx, action, nr, nargs, cmp);
      if (r != 0) {
        fprintf(stderr, "seccomp_rule_add %s: %d\n", name, r);
        return 7;
      }
    } else {
      return 2;
    }
  }
  if (seccomp_export_bpf(ctx, 1) != 0) return 8;
  seccomp_release(ctx);
  return 0;
}
