import { useEffect, useRef, useState } from "preact/hooks";
import { api, type Suggestion } from "../api";
import { signIn, signOut } from "../auth";
import { cartCount } from "../cart";
import { Link, navigate } from "../router";
import { isAdmin, useShop } from "../store";

function SearchBox() {
  const [text, setText] = useState(new URLSearchParams(location.search).get("q") ?? "");
  const [suggestions, setSuggestions] = useState<Suggestion[]>([]);
  const [open, setOpen] = useState(false);
  const latest = useRef("");

  // Autocomplete as you type, debounced so a fast typist sends one request, not ten.
  useEffect(() => {
    const q = text.trim();
    latest.current = q;
    if (!q) {
      setSuggestions([]);
      return;
    }
    const timer = setTimeout(() => {
      api.autocomplete(q).then(
        (found) => latest.current === q && setSuggestions(found),
        () => latest.current === q && setSuggestions([]),
      );
    }, 150);
    return () => clearTimeout(timer);
  }, [text]);

  const submit = (event: Event) => {
    event.preventDefault();
    setOpen(false);
    if (text.trim()) navigate(`/search?q=${encodeURIComponent(text.trim())}`);
  };
  return (
    <form class="search" role="search" onSubmit={submit}>
      <input
        type="search" name="q" placeholder="Search products" aria-label="Search products" autocomplete="off"
        value={text}
        onInput={(e) => { setText(e.currentTarget.value); setOpen(true); }}
        onFocus={() => setOpen(true)}
        onBlur={() => setTimeout(() => setOpen(false), 150)}
      />
      <button type="submit">Search</button>
      {open && suggestions.length > 0 && (
        <ul class="suggestions" role="listbox" aria-label="Suggestions">
          {suggestions.map((s) => (
            <li key={s.id} role="option">
              <Link href={`/product/${s.id}`} onClick={() => setOpen(false)}>{s.name}</Link>
            </li>
          ))}
        </ul>
      )}
    </form>
  );
}

export function Header() {
  const shop = useShop();
  const config = shop.config;
  const count = cartCount(shop.cart);
  const [error, setError] = useState<string | null>(null);
  const login = () =>
    config && signIn(config.oidc_issuer_url, config.oidc_client_id, location.pathname + location.search)
      .catch((e: unknown) => setError(e instanceof Error ? e.message : "Sign-in is unavailable right now."));
  return (
    <header class="site-header">
      <Link href="/" class="brand">Fleet Shop</Link>
      <SearchBox />
      <nav>
        <Link href="/cart" class="cart-link">Cart{count > 0 && <span class="badge" data-testid="cart-count">{count}</span>}</Link>
        <Link href="/orders">My orders</Link>
        {isAdmin(shop) && <Link href="/admin">Admin</Link>}
        {config?.auth_enabled && (shop.identity ? (
          <span class="who">
            <span data-testid="signed-in-as">{shop.identity.username}</span>
            <button type="button" class="link" onClick={() => signOut(config.oidc_issuer_url, config.oidc_client_id)}>Sign out</button>
          </span>
        ) : (
          <button type="button" onClick={login}>Sign in</button>
        ))}
      </nav>
      {error && <p class="notice notice-warning" role="alert">{error}</p>}
    </header>
  );
}
