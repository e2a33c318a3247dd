/** ReadAhead: pack spans or whole packs loaded ahead of their turn, within a byte bound. */
import { describe, expect, it } from 'vitest';
import { ReadAhead } from '../../src/parallel/read-ahead.js';

function loader(fail: Set<number> = new Set()) {
  const started: number[] = [];
  const load = (i: number) => {
    started.push(i);
    return fail.has(i) ? Promise.reject(new Error(`span ${i} failed`)) : Promise.resolve(new Uint8Array([i]));
  };
  return { started, load };
}

describe('ReadAhead', () => {
  it('with no bound loads each span only when its turn comes', async () => {
    const { started, load } = loader();
    const ahead = new ReadAhead([10, 10, 10], load, 0);
    expect(started).toEqual([]);
    expect(await ahead.take(0)).toEqual(new Uint8Array([0]));
    expect(await ahead.take(1)).toEqual(new Uint8Array([1]));
    expect(started).toEqual([0, 1]);
    ahead.release(0);
    expect(started).toEqual([0, 1]);
  });

  it('starts later spans while the bytes started and not released fit the bound', async () => {
    const { started, load } = loader();
    const ahead = new ReadAhead([10, 10, 10, 10, 30], load, 25);
    await ahead.take(0);
    expect(started).toEqual([0, 1]); // a third would hold 30 > 25
    ahead.release(0);
    expect(started).toEqual([0, 1, 2]);
    await ahead.take(1);
    await ahead.take(2);
    ahead.release(1);
    expect(started).toEqual([0, 1, 2, 3]);
    ahead.release(2);
    expect(started).toEqual([0, 1, 2, 3]); // 10 + 30 > 25: span 4 waits for its turn
    expect(await ahead.take(4)).toEqual(new Uint8Array([4])); // a span bigger than the bound still loads
    expect(started).toEqual([0, 1, 2, 3, 4]);
  });

  it('start() begins the loads the bound allows before any piece is taken', async () => {
    const { started, load } = loader();
    const ahead = new ReadAhead([10, 10, 10], load, 25);
    ahead.start();
    expect(started).toEqual([0, 1]);
    expect(await ahead.take(0)).toEqual(new Uint8Array([0]));
    expect(started).toEqual([0, 1]);
  });

  it('reports a load that failed ahead of its turn when the span is taken, not before', async () => {
    const { load } = loader(new Set([1]));
    const ahead = new ReadAhead([10, 10], load, 100);
    await ahead.take(0); // starts span 1 too; its rejection must not go unhandled
    await new Promise((r) => setTimeout(r, 10));
    await expect(ahead.take(1)).rejects.toThrow('span 1 failed');
  });
});
