import { Dashboard } from '@/modules/host/dashboard';

export default function HomePage() {
  return <Dashboard />;
}
