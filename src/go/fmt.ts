/**
 * Go's fmt "%.<prec>f": correctly rounded like toFixed, except that an exact tie rounds to
 * the even digit (toFixed rounds it away from zero), e.g. 2.3125 → "2.312".
 */
export function goFixed(x: number, prec: number): string {
  const exact = x.toFixed(100); // every double's decimal expansion fits in 100 digits here
  const dot = exact.indexOf('.');
  const rest = exact.slice(dot + 1 + prec);
  if (!/^50*$/.test(rest)) return x.toFixed(prec);
  const kept = exact.slice(0, dot + 1 + prec).replace(/\.$/, '');
  const last = Number(kept[kept.length - 1]);
  return last % 2 === 0 ? kept : x.toFixed(prec);
}
