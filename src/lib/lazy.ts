/**
 * `load` on the first call, its promise shared by every call after; a failed load is not kept,
 * so the next call tries again. For the packages only some requests need, imported on first use
 * instead of at every start (issue #21: start-up time and idle memory).
 */
export function onFirstUse<T>(load: () => Promise<T>): () => Promise<T> {
  let loading: Promise<T> | undefined;
  return () => {
    if (!loading) {
      loading = load();
      loading.catch(() => {
        loading = undefined;
      });
    }
    return loading;
  };
}
