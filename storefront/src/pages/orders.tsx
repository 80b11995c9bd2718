import { useEffect, useState } from "preact/hooks";
import { api, type Notification, type Order } from "../api";
import { Notice, Price, useLoad } from "../components/common";
import { Link, type Location } from "../router";
import { shopper, useShop } from "../store";
import { NeedsSignIn } from "./catalog";

const CANCELLABLE = new Set(["PENDING", "CONFIRMED"]);

function when(iso: string): string {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}

export function OrdersPage() {
  const shop = useShop();
  const who = shopper(shop);
  const orders = useLoad(() => (who ? api.ordersOf(who.email) : Promise.resolve(null)), [who?.email]);
  if (!who) {
    return shop.config?.auth_enabled
      ? <Notice kind="info">Sign in to see your orders.</Notice>
      : <Notice kind="info">Your orders appear here once you have placed one (we find them by your email).</Notice>;
  }
  if (orders.loading && !orders.data) return <p class="muted">Loading your orders…</p>;
  if (orders.error) return <NeedsSignIn error={orders.error} />;
  const list = orders.data ?? [];
  return (
    <section>
      <h1>My orders</h1>
      {list.length === 0 ? <p>No orders yet for {who.email}.</p> : (
        <table class="orders" data-testid="orders">
          <thead><tr><th>Order</th><th>Placed</th><th>Status</th><th>Total</th></tr></thead>
          <tbody>
            {list.map((o) => (
              <tr key={o.id}>
                <td><Link href={`/orders/${o.id}`}>{o.order_number}</Link></td>
                <td>{when(o.created_at)}</td>
                <td><span class={`status status-${o.status.toLowerCase()}`}>{o.status}</span></td>
                <td><Price amount={o.total_amount} /></td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

// Order and emails are refreshed without a reload: quickly at first (the confirmation email
// arrives within seconds), then more slowly, to stay well inside the gateway's rate limit.
const FIRST_POLL_MS = 1500;
const MAX_POLL_MS = 15_000;

function usePolled<T>(load: () => Promise<T>, key: string, restart: number): { data: T | null; error: unknown } {
  const [state, setState] = useState<{ data: T | null; error: unknown }>({ data: null, error: null });
  useEffect(() => {
    let live = true;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let delay = FIRST_POLL_MS;
    const tick = async () => {
      try {
        const data = await load();
        if (live) setState({ data, error: null });
      } catch (error) {
        if (live) setState((s) => ({ data: s.data, error }));
      }
      if (!live) return;
      timer = setTimeout(tick, document.hidden ? MAX_POLL_MS : delay);
      delay = Math.min(MAX_POLL_MS, Math.round(delay * 1.5));
    };
    void tick();
    return () => {
      live = false;
      clearTimeout(timer);
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key, restart]);
  return state;
}

export function OrderPage({ orderId, loc }: { orderId: string; loc: Location }) {
  const [restart, setRestart] = useState(0);
  const [actionError, setActionError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);
  const order = usePolled<Order>(() => api.order(orderId), orderId, restart);
  const email = order.data?.customer_email;
  const emails = usePolled<Notification[] | null>(() => (email ? api.emails(email) : Promise.resolve(null)), `${orderId}:${email}`, restart);

  if (!order.data) return order.error ? <NeedsSignIn error={order.error} /> : <p class="muted">Loading the order…</p>;
  const o = order.data;
  const cancel = async () => {
    setBusy(true);
    setActionError(null);
    try {
      await api.cancelOrder(o.id);
      setRestart((n) => n + 1);
    } catch (error) {
      setActionError(error);
    } finally {
      setBusy(false);
    }
  };
  const mine = (emails.data ?? []).filter((n) => n.order_number === o.order_number);
  return (
    <section class="order">
      {loc.params.get("placed") && <Notice kind="success">Thank you! Your order <strong>{o.order_number}</strong> is placed.</Notice>}
      <h1>Order <span data-testid="order-number">{o.order_number}</span></h1>
      <p>Status: <span class={`status status-${o.status.toLowerCase()}`} data-testid="order-status">{o.status}</span> · placed {when(o.created_at)} for {o.customer_name} ({o.customer_email})</p>
      {order.error !== null && <Notice error={order.error} />}
      <table class="cart">
        <thead><tr><th>Product</th><th>Price</th><th>Quantity</th><th>Total</th></tr></thead>
        <tbody>
          {o.items.map((i) => (
            <tr key={i.product_id}>
              <td><Link href={`/product/${i.product_id}`}>{i.product_name}</Link></td>
              <td><Price amount={i.unit_price} /></td>
              <td>{i.quantity}</td>
              <td>{i.total_price !== undefined && <Price amount={i.total_price} />}</td>
            </tr>
          ))}
        </tbody>
        <tfoot><tr><th colSpan={3}>Total</th><th><Price amount={o.total_amount} /></th></tr></tfoot>
      </table>
      {CANCELLABLE.has(o.status) && <button type="button" onClick={cancel} disabled={busy}>Cancel this order</button>}
      {actionError !== null && <Notice error={actionError} />}
      <h2>Emails about this order</h2>
      {emails.error !== null && <Notice error={emails.error} />}
      {mine.length === 0 ? <p class="muted">No email yet; this list refreshes by itself.</p> : (
        <ul class="emails" data-testid="emails">
          {mine.map((n) => <li key={n.event_id}><strong>{n.subject}</strong> <span class="muted">to {n.to}, {when(n.sent_at)}</span></li>)}
        </ul>
      )}
    </section>
  );
}
