import { useState } from "preact/hooks";

/** A signing secret, shown this once (the gateway never shows it again), with a copy button. */
export function SecretOnce({ secret }: { secret: string }) {
  const [copied, setCopied] = useState<string>();
  const copy = () =>
    navigator.clipboard.writeText(secret).then(
      () => setCopied("Copied."),
      () => setCopied("Copy failed: select the secret and copy it by hand."),
    );
  return (
    <div class="secret">
      <p>The signing secret, shown only this once:</p>
      <output aria-label="New signing secret">{secret}</output>
      <button type="button" onClick={copy}>
        Copy secret
      </button>
      <span role="status">{copied}</span>
    </div>
  );
}
