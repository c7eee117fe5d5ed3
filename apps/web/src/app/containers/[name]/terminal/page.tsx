import { TerminalView } from '@/terminal/terminal-view';

export default async function TerminalPage({ params }: { params: Promise<{ name: string }> }) {
  const { name } = await params;
  return <TerminalView container={decodeURIComponent(name)} />;
}
