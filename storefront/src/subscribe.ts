import { useEffect, useState } from "preact/hooks";

/** Re-renders the calling component whenever one of `listeners` is called. */
export function useNotified(listeners: Set<() => void>): void {
  const [, setTick] = useState(0);
  useEffect(() => {
    const notify = () => setTick((n) => n + 1);
    listeners.add(notify);
    return () => {
      listeners.delete(notify);
    };
  }, [listeners]);
}
