import { useState } from "preact/hooks";

/** A signing secret, shown this once (the gateway never shows it again), with a copy button. */
export function SecretOnce({ secret }: { secret: string }) {
  // Tied to the secret it was about: after another rotation, "Copied." would claim the new one.
  const [copied, setCopied] = useState<{ secret: string; note: string }>();
  const copy = () =>
    navigator.clipboard.writeText(secret).then(
      () => setCopied({ secret, note: "Copied." }),
      () => setCopied({ secret, note: "Copy failed: select the secret and copy it by hand." }),
    );
  return (
    <div class="secret">
      <p>The signing secret, shown only this once:</p>
      <output aria-label="New signing secret">{secret}</output>
      <button type="button" onClick={copy}>
        Copy secret
      </button>
      <span role="status">{copied?.secret === secret ? copied.note : ""}</span>
    </div>
  );
}
