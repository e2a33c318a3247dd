/** uid/gid → name, read from /etc/passwd and /etc/group as Go's pure os/user does. */
import fs from 'node:fs';

function loadNames(file: string): Map<number, string> {
  const names = new Map<number, string>();
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return names;
  }
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f.length < 3 || line.startsWith('#')) continue;
    const id = Number(f[2]);
    if (Number.isInteger(id) && !names.has(id)) names.set(id, f[0]!);
  }
  return names;
}

let users: Map<number, string> | undefined;
let groups: Map<number, string> | undefined;

export function userName(uid: number): string {
  users ??= loadNames('/etc/passwd');
  return users.get(uid) ?? '';
}

export function groupName(gid: number): string {
  groups ??= loadNames('/etc/group');
  return groups.get(gid) ?? '';
}
