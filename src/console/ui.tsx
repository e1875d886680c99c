/** Small shared pieces: errors, JSON, times, confirmations. */
import type { ComponentChildren } from "preact";

export function ErrorNote({ error }: { error: Error | undefined }) {
  if (error === undefined) return null;
  return (
    <p class="error" role="alert">
      {error.message}
    </p>
  );
}

/** A value pretty-printed as text: a payload's markup is shown as characters, never parsed. */
export function Json({ value, label }: { value: unknown; label: string }) {
  return (
    <pre class="json" tabIndex={0} aria-label={label}>
      {JSON.stringify(value, null, 2)}
    </pre>
  );
}

export function Time({ at }: { at: string | null | undefined }) {
  if (at === null || at === undefined) return <span>—</span>;
  return <time dateTime={at}>{new Date(at).toLocaleString()}</time>;
}

export const count = (n: number | null | undefined) => (n === null || n === undefined ? "—" : n.toLocaleString());

/** Asks before a destructive action; the browser's own dialog is keyboard- and screen-reader-ready. */
export const confirmed = (question: string) => window.confirm(question);

export function Section({ title, children }: { title: string; children: ComponentChildren }) {
  const id = `section-${title.toLowerCase().replace(/[^a-z0-9]+/g, "-")}`;
  return (
    <section aria-labelledby={id}>
      <h2 id={id}>{title}</h2>
      {children}
    </section>
  );
}
