import { useCallback, useEffect, useRef, useState } from 'react';
import { toOperatorError, type OperatorError } from '../api/operator-error.js';

export interface Query<T> {
  data: T | undefined;
  error: OperatorError | null;
  loading: boolean;
  /** Reads again; concurrent reloads collapse into one answer (the latest wins). */
  reload: () => void;
}

/**
 * A read from the hub that a view shows: loads on mount and whenever `deps` change; keeps the last
 * data while reloading so tables do not flash empty.
 */
export function useQuery<T>(load: () => Promise<T>, deps: readonly unknown[]): Query<T> {
  const [data, setData] = useState<T | undefined>(undefined);
  const [error, setError] = useState<OperatorError | null>(null);
  const [loading, setLoading] = useState(true);
  const generation = useRef(0);
  const loadRef = useRef(load);
  loadRef.current = load;

  const reload = useCallback(() => {
    const mine = ++generation.current;
    setLoading(true);
    loadRef.current().then(
      (value) => {
        if (mine !== generation.current) return;
        setData(value);
        setError(null);
        setLoading(false);
      },
      (err: unknown) => {
        if (mine !== generation.current) return;
        setError(toOperatorError(err));
        setLoading(false);
      },
    );
  }, []);

  useEffect(() => {
    reload();
    return () => {
      generation.current++;
    };
  }, deps);

  return { data, error, loading, reload };
}
