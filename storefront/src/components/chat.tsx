import { useState } from "preact/hooks";
import { api, type ChatTurn, type ProposedProduct, writtenByModel } from "../api";
import { Link } from "../router";
import { Price } from "./common";

interface Entry {
  turn: ChatTurn;
  products?: ProposedProduct[];
  generatedBy?: string;
  failed?: boolean;
}

const AWAY = "The shopping assistant is away right now. You can still browse, search and check out as usual.";

/** The shopping assistant (ai-service /chat), on every page. */
export function ChatPanel() {
  const [open, setOpen] = useState(false);
  const [entries, setEntries] = useState<Entry[]>([]);
  const [text, setText] = useState("");
  const [busy, setBusy] = useState(false);

  const send = async (event: Event) => {
    event.preventDefault();
    const message = text.trim();
    if (!message || busy) return;
    const history = entries.filter((e) => !e.failed).map((e) => e.turn).slice(-10);
    setEntries((all) => [...all, { turn: { role: "user", content: message } }]);
    setText("");
    setBusy(true);
    try {
      const reply = await api.chat(message, history);
      setEntries((all) => [...all, { turn: { role: "assistant", content: reply.reply }, products: reply.products, generatedBy: reply.generated_by }]);
    } catch (error) {
      const away = error instanceof Error && "unavailable" in error && (error as { unavailable: boolean }).unavailable;
      setEntries((all) => [...all, { turn: { role: "assistant", content: away ? AWAY : (error as Error).message }, failed: true }]);
    } finally {
      setBusy(false);
    }
  };

  if (!open) {
    return <button type="button" class="chat-toggle" onClick={() => setOpen(true)}>Ask the assistant</button>;
  }
  return (
    <aside class="chat" aria-label="Shopping assistant">
      <header>
        <strong>Shopping assistant</strong>
        <button type="button" class="link" onClick={() => setOpen(false)} aria-label="Close the assistant">Close</button>
      </header>
      <ol class="chat-log" data-testid="chat-log">
        {entries.length === 0 && <li class="muted">Ask for something, e.g. "a laptop under $1500".</li>}
        {entries.map((e, i) => (
          <li key={i} class={`chat-${e.turn.role}${e.failed ? " chat-failed" : ""}`}>
            <p>{e.turn.content}</p>
            {e.generatedBy !== undefined && (
              <p class="provenance" data-testid="provenance">
                {writtenByModel(e.generatedBy)
                  ? `Written by a language model (${e.generatedBy}).`
                  : "Not written by a language model: these are catalog matches for your words."}
              </p>
            )}
            {e.products && e.products.length > 0 && (
              <ul class="chat-products">
                {e.products.map((p) => (
                  <li key={p.product_id}>
                    <Link href={`/product/${p.product_id}`} class="chat-card">
                      <strong>{p.name}</strong> <Price amount={p.price} />
                      <span class="muted">{p.reason}</span>
                    </Link>
                  </li>
                ))}
              </ul>
            )}
          </li>
        ))}
        {busy && <li class="muted">Thinking…</li>}
      </ol>
      <form onSubmit={send} class="chat-form">
        <input type="text" value={text} maxLength={2000} placeholder="Ask about products" aria-label="Message to the assistant"
          onInput={(e) => setText(e.currentTarget.value)} />
        <button type="submit" disabled={busy}>Send</button>
      </form>
    </aside>
  );
}
