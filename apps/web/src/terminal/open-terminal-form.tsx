'use client';
import { useRouter } from 'next/navigation';
import { useState } from 'react';

/** The way in until the panel lists containers: a container's name opens its terminal. */
export function OpenTerminalForm() {
  const router = useRouter();
  const [name, setName] = useState('');
  return (
    <form
      className="open-terminal"
      onSubmit={(e) => {
        e.preventDefault();
        if (name.trim()) router.push(`/containers/${encodeURIComponent(name.trim())}/terminal`);
      }}
    >
      <label>
        Terminal in container <input value={name} onChange={(e) => setName(e.target.value)} required />
      </label>
      <button type="submit">Open</button>
    </form>
  );
}
