/**
 * Prometheus counters with rest-server's names and labels (`user`, `repo`, `type`), exposed
 * in the text exposition format at /metrics.
 */
export type BlobOp = 'read' | 'write' | 'delete';

const HELP: Record<string, string> = {
  rest_server_blob_write_total: 'Total number of blobs written',
  rest_server_blob_write_bytes_total: 'Total number of bytes written to blobs',
  rest_server_blob_read_total: 'Total number of blobs read',
  rest_server_blob_read_bytes_total: 'Total number of bytes read from blobs',
  rest_server_blob_delete_total: 'Total number of blobs deleted',
  rest_server_blob_delete_bytes_total: 'Total number of bytes of blobs deleted',
};

function escapeLabel(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

export class Metrics {
  /** metric name → label key → value */
  private readonly counters = new Map<string, Map<string, number>>();

  constructor() {
    for (const name of Object.keys(HELP)) this.counters.set(name, new Map());
  }

  record(op: BlobOp, labels: { user: string; repo: string; type: string }, bytes: number): void {
    // Labels in Prometheus' sorted order, as the Go client prints them.
    const key = `repo="${escapeLabel(labels.repo)}",type="${escapeLabel(labels.type)}",user="${escapeLabel(labels.user)}"`;
    const add = (name: string, n: number) => {
      const m = this.counters.get(name)!;
      m.set(key, (m.get(key) ?? 0) + n);
    };
    add(`rest_server_blob_${op}_total`, 1);
    add(`rest_server_blob_${op}_bytes_total`, bytes);
  }

  /** Value of one counter series (tests). */
  get(name: string, labels: { user: string; repo: string; type: string }): number {
    const key = `repo="${escapeLabel(labels.repo)}",type="${escapeLabel(labels.type)}",user="${escapeLabel(labels.user)}"`;
    return this.counters.get(name)?.get(key) ?? 0;
  }

  render(): string {
    let out = '';
    for (const [name, series] of this.counters) {
      out += `# HELP ${name} ${HELP[name]}\n# TYPE ${name} counter\n`;
      for (const [labels, v] of [...series].sort(([a], [b]) => (a < b ? -1 : 1))) out += `${name}{${labels}} ${v}\n`;
    }
    return out;
  }
}
