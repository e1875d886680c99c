import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { checkToken, session, whenUnauthorized } from "./api.js";
import { EventPage } from "./event.js";
import { EventTypesPage } from "./event-types.js";
import { EventsPage } from "./events.js";
import { href, useRoute, type Route } from "./route.js";
import { SubscriberPage } from "./subscriber.js";
import { SubscribersPage } from "./subscribers.js";
import "./styles.css";

function SignIn({ onSignedIn, notice }: { onSignedIn: () => void; notice: string | undefined }) {
  const [token, setToken] = useState("");
  const [error, setError] = useState(notice);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    setBusy(true);
    const problem = await checkToken(token.trim()).catch((err: Error) => err.message);
    setBusy(false);
    if (problem !== null) return setError(problem);
    session.signIn(token.trim());
    onSignedIn();
  };
  return (
    <main class="signin">
      <h1>BRAiN Event Gateway</h1>
      <form onSubmit={submit}>
        <label for="token">Admin token</label>
        <input
          id="token"
          type="password"
          autocomplete="off"
          required
          value={token}
          onInput={(e) => setToken(e.currentTarget.value)}
        />
        <button type="submit" disabled={busy}>
          Sign in
        </button>
        {error !== undefined && (
          <p class="error" role="alert">
            {error}
          </p>
        )}
        <p class="hint">The token is kept for this tab only (sessionStorage) and sent in the Authorization header.</p>
      </form>
    </main>
  );
}

function Page({ route }: { route: Route }) {
  switch (route.page) {
    case "subscriber":
      return <SubscriberPage key={route.name} name={route.name} />;
    case "events":
      return <EventsPage />;
    case "event":
      return <EventPage key={route.id} id={route.id} />;
    case "event-types":
      return <EventTypesPage />;
    default:
      return <SubscribersPage />;
  }
}

const NAV = [
  { label: "Subscribers", to: href.subscribers, pages: ["subscribers", "subscriber"] },
  { label: "Events", to: href.events, pages: ["events", "event"] },
  { label: "Event types", to: href.eventTypes, pages: ["event-types"] },
];

function App() {
  const [signedIn, setSignedIn] = useState(() => session.token() !== null);
  const [notice, setNotice] = useState<string>();
  const route = useRoute();
  useEffect(
    () =>
      whenUnauthorized(() => {
        session.signOut();
        setNotice("The gateway refused the token: sign in again.");
        setSignedIn(false);
      }),
    [],
  );
  if (!signedIn) return <SignIn notice={notice} onSignedIn={() => (setNotice(undefined), setSignedIn(true))} />;
  const signOut = () => {
    session.signOut();
    setSignedIn(false);
  };
  return (
    <>
      <header>
        <span class="brand">BRAiN console</span>
        <nav aria-label="Pages">
          {NAV.map((n) => (
            <a key={n.to} href={n.to} aria-current={n.pages.includes(route.page) ? "page" : undefined}>
              {n.label}
            </a>
          ))}
        </nav>
        <button type="button" class="secondary" onClick={signOut}>
          Sign out
        </button>
      </header>
      <main>
        <Page route={route} />
      </main>
    </>
  );
}

render(<App />, document.getElementById("app")!);
