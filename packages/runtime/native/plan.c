/* Reading and walking a plan (format in berth.h). The buffer is mmap'd so the monitor can
 * hand it back to the kernel and stay small. */
#include "berth.h"
#include <errno.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define PLAN_MAX BERTH_PLAN_MAX

static int read_exact(int fd, void *buf, size_t len) {
  size_t got = 0;
  while (got < len) {
    ssize_t n = read(fd, (char *)buf + got, len - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return n == 0 && got == 0 ? 0 : -1;
    got += (size_t)n;
  }
  return 1;
}

static int plan_check(struct plan *p) {
  if (p->len < 4 || memcmp(p->buf, "BRT1", 4) != 0) return -1;
  size_t pos = 4;
  while (pos < p->len) {
    if (p->len - pos < 8) return -1;
    uint32_t len;
    memcpy(&len, p->buf + pos + 4, 4);
    size_t padded = ((size_t)len + 3) & ~(size_t)3;
    if (p->len - pos - 8 < padded) return -1;
    pos += 8 + padded;
  }
  return 0;
}

int plan_read(int fd, struct plan *p) {
  size_t cap = 1u << 16;
  p->len = 0;
  if (!p->buf) {
    p->buf = mmap(NULL, PLAN_MAX, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p->buf == MAP_FAILED) return -1;
    p->mapped = PLAN_MAX;
  }
  for (;;) {
    if (p->len == p->mapped) return errno = E2BIG, -1;
    if (cap > p->mapped - p->len) cap = p->mapped - p->len;
    ssize_t n = read(fd, p->buf + p->len, cap);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -1;
    if (n == 0) break;
    p->len += (size_t)n;
  }
  return plan_check(p) == 0 ? 0 : (errno = EINVAL, -1);
}

int plan_read_framed(int fd, struct plan *p) {
  uint32_t len;
  int r = read_exact(fd, &len, 4);
  if (r <= 0) return r;
  if (len > PLAN_MAX) return errno = E2BIG, -1;
  p->len = len;
  p->mapped = len ? len : 1;
  p->buf = mmap(NULL, p->mapped, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p->buf == MAP_FAILED) return -1;
  if (read_exact(fd, p->buf, len) != 1) return errno = EPROTO, -1;
  return plan_check(p) == 0 ? 1 : (errno = EINVAL, -1);
}

void plan_free(struct plan *p) {
  if (p->buf && p->buf != MAP_FAILED) munmap(p->buf, p->mapped);
  p->buf = NULL;
}

int plan_next(const struct plan *p, uint32_t type, size_t *pos, struct rec *r) {
  if (*pos == 0) *pos = 4;
  while (*pos + 8 <= p->len) {
    uint32_t t, len;
    memcpy(&t, p->buf + *pos, 4);
    memcpy(&len, p->buf + *pos + 4, 4);
    const unsigned char *data = p->buf + *pos + 8;
    *pos += 8 + (((size_t)len + 3) & ~(size_t)3);
    if (t == type) {
      r->type = t, r->len = len, r->data = data;
      return 1;
    }
  }
  return 0;
}

int plan_has(const struct plan *p, uint32_t type) {
  size_t pos = 0;
  struct rec r;
  return plan_next(p, type, &pos, &r);
}

const char *rec_str(const struct rec *r, size_t off, size_t *next) {
  if (off >= r->len) return NULL;
  const char *s = (const char *)r->data + off;
  const char *end = memchr(s, 0, r->len - off);
  if (!end) return NULL;
  if (next) *next = off + (size_t)(end - s) + 1;
  return s;
}

uint32_t rec_u32(const struct rec *r, size_t off) {
  uint32_t v = 0;
  if (off + 4 <= r->len) memcpy(&v, r->data + off, 4);
  return v;
}

uint64_t rec_u64(const struct rec *r, size_t off) {
  uint64_t v = 0;
  if (off + 8 <= r->len) memcpy(&v, r->data + off, 8);
  return v;
}

const char *plan_str(const struct plan *p, uint32_t type) {
  size_t pos = 0;
  struct rec r;
  return plan_next(p, type, &pos, &r) ? rec_str(&r, 0, NULL) : NULL;
}

uint64_t plan_u64(const struct plan *p, uint32_t type, uint64_t dflt) {
  size_t pos = 0;
  struct rec r;
  return plan_next(p, type, &pos, &r) ? rec_u64(&r, 0) : dflt;
}
