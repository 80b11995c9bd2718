import { useState } from "preact/hooks";
import { api, ApiError, type Order } from "../api";
import { Notice, Price, ProductImage } from "../components/common";
import { type Cart, cartTotal, removeFromCart, setQuantity } from "../cart";
import { formatMoney, fromCents, lineTotal } from "../money";
import { Link, navigate } from "../router";
import { getState, shopper, update, useShop } from "../store";

export function CartPage() {
  const shop = useShop();
  const cart = shop.cart;
  if (cart.length === 0) return <section><h1>Your cart</h1><p>Your cart is empty. <Link href="/">Browse the catalog</Link>.</p></section>;
  return (
    <section>
      <h1>Your cart</h1>
      <table class="cart" data-testid="cart">
        <thead><tr><th>Product</th><th>Price</th><th>Quantity</th><th>Total</th><th /></tr></thead>
        <tbody>
          {cart.map((line) => (
            <tr key={line.product_id} data-product-id={line.product_id}>
              <td class="cart-product"><ProductImage url={line.image_url} name={line.name} /><Link href={`/product/${line.product_id}`}>{line.name}</Link></td>
              <td>{formatMoney(line.unit_cents)}</td>
              <td>
                <input type="number" min="1" max="999" value={line.quantity} aria-label={`Quantity of ${line.name}`}
                  onChange={(e) => update({ cart: setQuantity(getState().cart, line.product_id, Number(e.currentTarget.value)) })} />
              </td>
              <td>{formatMoney(lineTotal(line.unit_cents, line.quantity))}</td>
              <td><button type="button" class="link" onClick={() => update({ cart: removeFromCart(getState().cart, line.product_id) })}>Remove</button></td>
            </tr>
          ))}
        </tbody>
        <tfoot><tr><th colSpan={3}>Total</th><th data-testid="cart-total">{formatMoney(cartTotal(cart))}</th><th /></tr></tfoot>
      </table>
      <Checkout cart={cart} />
    </section>
  );
}

const KEY_STORE = "storefront.checkout.v1";

/** One Idempotency-Key per cart content: a double click, a retry after a timeout or a reload
 *  sends the same key, so order-service answers with the first order instead of a second one. */
function idempotencyKey(cart: Cart, email: string): string {
  const fingerprint = JSON.stringify([email.toLowerCase(), cart.map((l) => [l.product_id, l.quantity, l.unit_cents])]);
  const saved = JSON.parse(sessionStorage.getItem(KEY_STORE) ?? "null") as { fingerprint: string; key: string } | null;
  if (saved?.fingerprint === fingerprint) return saved.key;
  const key = crypto.randomUUID();
  sessionStorage.setItem(KEY_STORE, JSON.stringify({ fingerprint, key }));
  return key;
}

const INSUFFICIENT = /^Insufficient stock for product: (.+)$/;

/** order-service says which product is short; the shop says how many are left. */
async function refusalSentence(error: unknown, cart: Cart): Promise<string> {
  if (!(error instanceof ApiError)) return "The order could not be placed; try again in a moment.";
  const short = error.detail?.match(INSUFFICIENT);
  if (error.status === 400 && short) {
    const line = cart.find((l) => l.name === short[1]);
    const stock = line ? await api.stock(line.product_id).catch(() => null) : null;
    if (stock) {
      return stock.available_qty <= 0 ? `${short[1]} is out of stock.` : `Only ${stock.available_qty} left of ${short[1]}.`;
    }
    return `There is not enough stock of ${short[1]}.`;
  }
  return error.message;
}

function Checkout({ cart }: { cart: Cart }) {
  const shop = useShop();
  const who = shopper(shop);
  const [name, setName] = useState(who?.name ?? "");
  const [email, setEmail] = useState(who?.email ?? "");
  const [placing, setPlacing] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const signedIn = shop.config?.auth_enabled;
  if (signedIn && !shop.identity) return <Notice kind="info">Sign in to check out (use "Sign in" at the top); your cart stays here.</Notice>;

  const place = async (event: Event) => {
    event.preventDefault();
    if (placing) return;
    const customer = signedIn && who ? who : { name: name.trim(), email: email.trim() };
    if (!customer.name || !customer.email) {
      setError("Please give a name and an email for the order.");
      return;
    }
    if (!signedIn) update({ guest: customer });
    setPlacing(true);
    setError(null);
    try {
      const order: Order = await api.placeOrder({
        customer_name: customer.name,
        customer_email: customer.email,
        items: cart.map((l) => ({ product_id: l.product_id, product_name: l.name, quantity: l.quantity, unit_price: fromCents(l.unit_cents) })),
      }, idempotencyKey(cart, customer.email));
      sessionStorage.removeItem(KEY_STORE);
      update({ cart: [] });
      navigate(`/orders/${order.id}?placed=1`);
    } catch (e) {
      setError(await refusalSentence(e, cart));
    } finally {
      setPlacing(false);
    }
  };
  return (
    <form class="checkout" onSubmit={place}>
      <h2>Checkout</h2>
      {signedIn && who ? <p>Ordering as <strong>{who.name}</strong> ({who.email}).</p> : (
        <>
          <label>Name <input name="customer_name" required value={name} onInput={(e) => setName(e.currentTarget.value)} /></label>
          <label>Email <input name="customer_email" type="email" required value={email} onInput={(e) => setEmail(e.currentTarget.value)} /></label>
        </>
      )}
      <p>Total to pay: <strong><Price amount={fromCents(cartTotal(cart))} /></strong></p>
      {error && <p class="notice notice-warning" role="alert" data-testid="checkout-error">{error}</p>}
      <button type="submit" class="primary" disabled={placing}>{placing ? "Placing your order…" : "Place order"}</button>
    </form>
  );
}
