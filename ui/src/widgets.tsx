import { useEffect, useRef, useState } from "preact/hooks";
import type { ComponentChildren } from "preact";
import type { ApiError } from "./api";
import type { Loaded } from "./hooks";

export function ErrorNote({ error }: { error: ApiError | null }) {
  if (!error) return null;
  return (
    <p class="error" role="alert">
      {error.message} <span class="code">{error.code}</span>
    </p>
  );
}

/** Loading, error and empty states around what was loaded. */
export function Load<T>({
  state,
  empty,
  isEmpty,
  children,
}: {
  state: Loaded<T>;
  empty?: string;
  isEmpty?: (data: T) => boolean;
  children: (data: T) => ComponentChildren;
}) {
  if (state.error)
    return (
      <div>
        <ErrorNote error={state.error} />
        <button type="button" onClick={state.reload}>
          Try again
        </button>
      </div>
    );
  if (state.data === null) return <p class="muted" aria-busy="true">Loading…</p>;
  if (isEmpty?.(state.data)) return <p class="muted empty">{empty ?? "Nothing yet."}</p>;
  return <>{children(state.data)}</>;
}

/** A titled part of a screen. When its content is wider than the screen (a table at 360 px) it
 * scrolls sideways, and then it takes keyboard focus so the arrows can scroll it. */
export function Section({ title, children }: { title: string; children: ComponentChildren }) {
  const ref = useRef<HTMLElement>(null);
  const [scrolls, setScrolls] = useState(false);
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    const check = () => setScrolls(el.scrollWidth > el.clientWidth);
    check();
    const observer = new ResizeObserver(check);
    observer.observe(el);
    for (const child of Array.from(el.children)) observer.observe(child);
    return () => observer.disconnect();
  });
  return (
    <section aria-label={title} ref={ref} tabIndex={scrolls ? 0 : undefined}>
      <h2>{title}</h2>
      {children}
    </section>
  );
}

export function bytes(n: number): string {
  const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
  let value = n;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}

export function time(ms: number | null | undefined): string {
  if (!ms) return "—";
  return new Date(ms).toLocaleString();
}

/** The text of a DBS quote status code. */
export function quoteStatus(code: number): string {
  const known: Record<number, string> = {
    1: "waiting for files",
    2: "receiving files",
    100: "payment started",
    101: "payment sent",
    200: "payment failed",
    201: "no allowance",
    202: "balance too low",
    203: "transfer reverted",
    300: "storing",
    400: "stored",
    299: "expired",
    401: "storing failed",
    402: "file lengths differ",
  };
  return known[code] ?? `status ${code}`;
}
