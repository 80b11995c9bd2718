import { useEffect, useState } from "preact/hooks";
import { api } from "./api";
import { CALLBACK_PATH, completeSignIn, currentIdentity } from "./auth";
import { ChatPanel } from "./components/chat";
import { Notice } from "./components/common";
import { Header } from "./components/header";
import { AdminPage } from "./pages/admin";
import { CartPage } from "./pages/cart";
import { CatalogPage, SearchPage } from "./pages/catalog";
import { OrderPage, OrdersPage } from "./pages/orders";
import { ProductPage } from "./pages/product";
import { type Location, navigate, useLocation } from "./router";
import { update, useShop } from "./store";

function Callback({ loc }: { loc: Location }) {
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    completeSignIn(loc.params).then(
      (returnTo) => {
        update({ identity: currentIdentity() });
        navigate(returnTo, true);
      },
      (e: unknown) => setError(e instanceof Error ? e.message : "Sign-in failed; please try again."),
    );
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);
  return error ? <Notice error={new Error(error)} /> : <p class="muted">Signing you in…</p>;
}

// The catalog, search and product pages need no configuration: they load alongside it, so the
// first product grid does not wait for /config.json. The others need to know who is shopping.
function Page({ loc, configured }: { loc: Location; configured: boolean }) {
  const path = loc.path;
  let match: RegExpMatchArray | null;
  if (path === "/") return <CatalogPage loc={loc} />;
  if (path === "/search") return <SearchPage loc={loc} />;
  if ((match = path.match(/^\/product\/([^/]+)$/))) return <ProductPage productId={decodeURIComponent(match[1])} />;
  if (!configured) return <p class="muted">Opening the shop…</p>;
  if (path === "/cart") return <CartPage />;
  if (path === "/orders") return <OrdersPage />;
  if ((match = path.match(/^\/orders\/([^/]+)$/))) return <OrderPage orderId={decodeURIComponent(match[1])} loc={loc} />;
  if (path === "/admin") return <AdminPage />;
  if (path === CALLBACK_PATH) return <Callback loc={loc} />;
  return <section><h1>Page not found</h1><p>There is nothing at {path}. <a href="/">Back to the shop</a>.</p></section>;
}

export function App() {
  const shop = useShop();
  const loc = useLocation();
  const [configError, setConfigError] = useState<unknown>(null);
  useEffect(() => {
    api.config().then((config) => update({ config }), setConfigError);
  }, []);
  return (
    <>
      <Header />
      <main>
        {configError !== null && <Notice error={configError} />}
        <Page loc={loc} configured={shop.config !== null} />
      </main>
      <ChatPanel />
      <footer class="site-footer">Fleet Shop: an open-source, event-driven reference shop.</footer>
    </>
  );
}
