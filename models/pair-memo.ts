/**
 * A cache keyed on a pair of objects, for views of finished states (which steps never modify):
 * an entry lives as long as both keys do. A view keyed on the parts it reads (a table pool and a
 * domain, VFIO's state and the flush holds) is reused by every later state that shares them.
 */
export type PairMemo<A extends object, B extends object, V> = (first: A, second: B, compute: () => V) => V;

export function pairMemo<A extends object, B extends object, V>(): PairMemo<A, B, V> {
  const byFirst = new WeakMap<A, WeakMap<B, V>>();
  return (first, second, compute) => {
    let bySecond = byFirst.get(first);
    if (bySecond === undefined) {
      bySecond = new WeakMap();
      byFirst.set(first, bySecond);
    }
    const known = bySecond.get(second);
    if (known !== undefined) return known;
    const value = compute();
    bySecond.set(second, value);
    return value;
  };
}
