import { useState } from "preact/hooks";
import { api, ORDER_STATUSES, type OrderStatus, type Product, type ProductInput, type StockItem } from "../api";
import { Notice, Price, stockMap, useLoad } from "../components/common";
import { Link } from "../router";
import { isAdmin, useShop } from "../store";
import { NeedsSignIn } from "./catalog";

const PAGE_SIZE = 20;

function ProductForm({ initial, onSave, label }: { initial?: Product; onSave: (p: ProductInput) => Promise<void>; label: string }) {
  const [name, setName] = useState(initial?.name ?? "");
  const [price, setPrice] = useState(initial ? String(initial.price) : "");
  const [category, setCategory] = useState(initial?.category ?? "");
  const [description, setDescription] = useState(initial?.description ?? "");
  const [tags, setTags] = useState(initial?.tags.join(", ") ?? "");
  const [stock, setStock] = useState("10");
  const submit = async (event: Event) => {
    event.preventDefault();
    // product-service ignores nulls on edit (an empty text clears the description) and wants
    // it absent on create when there is none.
    const text = description.trim();
    await onSave({
      name: name.trim(), price: Number(price), category: category.trim(),
      tags: tags.split(",").map((t) => t.trim()).filter(Boolean),
      ...(initial ? { description: text } : { stock_quantity: Number(stock), ...(text ? { description: text } : {}) }),
    });
  };
  return (
    <form class="product-form" onSubmit={submit} aria-label={label}>
      <label>Name <input required value={name} onInput={(e) => setName(e.currentTarget.value)} /></label>
      <label>Price <input required type="number" min="0.01" step="0.01" value={price} onInput={(e) => setPrice(e.currentTarget.value)} /></label>
      <label>Category <input required value={category} onInput={(e) => setCategory(e.currentTarget.value)} /></label>
      <label>Tags <input value={tags} onInput={(e) => setTags(e.currentTarget.value)} /></label>
      <label>Description <input value={description} onInput={(e) => setDescription(e.currentTarget.value)} /></label>
      {!initial && <label>Stock <input type="number" min="0" value={stock} onInput={(e) => setStock(e.currentTarget.value)} /></label>}
      <button type="submit">{label}</button>
    </form>
  );
}

function StockCell({ product, stock, onChange, onError }: { product: Product; stock?: StockItem; onChange: () => void; onError: (e: unknown) => void }) {
  const [amount, setAmount] = useState("5");
  const run = (action: () => Promise<unknown>) => action().then(onChange, onError);
  const n = Math.max(1, Math.floor(Number(amount) || 1));
  if (!stock) {
    return <button type="button" onClick={() => run(() => api.createStock(product.id, product.name, n))}>Start stock at {n}</button>;
  }
  return (
    <span class="stock-cell">
      <span data-testid="stock-available">{stock.available_qty}</span> available ({stock.reserved_qty} reserved)
      <input type="number" min="1" value={amount} aria-label={`Units for ${product.name}`} onInput={(e) => setAmount(e.currentTarget.value)} />
      <button type="button" onClick={() => run(() => api.restock(product.id, n))} aria-label={`Restock ${product.name}`}>Restock</button>
      <button type="button" onClick={() => run(() => api.reduceStock(product.id, n))} aria-label={`Reduce ${product.name}`}>Reduce</button>
    </span>
  );
}

function ProductsAdmin() {
  const [page, setPage] = useState(1);
  const [editing, setEditing] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [message, setMessage] = useState<string | null>(null);
  const products = useLoad(() => api.products(page, PAGE_SIZE), [page]);
  const stock = useLoad(() => api.stockList(), [page]);
  const byId = stockMap(stock.data);
  const refresh = () => { products.reload(); stock.reload(); };
  const done = (text: string) => () => { setMessage(text); setError(null); setEditing(null); refresh(); };
  const create = (p: ProductInput) =>
    api.createProduct(p)
      .then((created) => api.createStock(created.id, created.name, p.stock_quantity ?? 0).then(done(`Created ${created.name}.`)))
      .catch(setError);
  if (products.error) return <NeedsSignIn error={products.error} />;
  const data = products.data;
  return (
    <section>
      <h2>Products</h2>
      {message && <Notice kind="success">{message}</Notice>}
      {error !== null && <Notice error={error} />}
      {stock.error !== null && <Notice error={stock.error} />}
      <details><summary>New product</summary><ProductForm label="Create product" onSave={create} /></details>
      {data && (
        <table class="admin-products" data-testid="admin-products">
          <thead><tr><th>Product</th><th>Price</th><th>Stock</th><th /></tr></thead>
          <tbody>
            {data.products.map((p) => (
              <tr key={p.id} data-product-id={p.id}>
                <td>{editing === p.id
                  ? <ProductForm initial={p} label="Save" onSave={(change) => api.updateProduct(p.id, change).then(done(`Saved ${change.name}.`), setError)} />
                  : <><Link href={`/product/${p.id}`}>{p.name}</Link> <span class="muted">{p.category}</span></>}</td>
                <td><Price amount={p.price} /></td>
                <td><StockCell product={p} stock={byId.get(p.id)} onChange={done(`Stock of ${p.name} updated.`)} onError={setError} /></td>
                <td>
                  <button type="button" class="link" onClick={() => setEditing(editing === p.id ? null : p.id)}>{editing === p.id ? "Close" : "Edit"}</button>
                  <button type="button" class="link danger" onClick={() => confirm(`Delete ${p.name}?`) && api.deleteProduct(p.id).then(done(`Deleted ${p.name}.`), setError)}>Delete</button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {data && data.total > PAGE_SIZE && (
        <nav class="pager">
          <button type="button" disabled={page <= 1} onClick={() => setPage(page - 1)}>Previous</button>
          <span>Page {page} of {Math.ceil(data.total / PAGE_SIZE)}</span>
          <button type="button" disabled={page * PAGE_SIZE >= data.total} onClick={() => setPage(page + 1)}>Next</button>
        </nav>
      )}
    </section>
  );
}

function OrdersAdmin() {
  const orders = useLoad(() => api.allOrders(), []);
  const [error, setError] = useState<unknown>(null);
  const change = (id: string, status: OrderStatus) => api.setOrderStatus(id, status).then(() => { setError(null); orders.reload(); }, setError);
  return (
    <section>
      <h2>Orders</h2>
      {(orders.error ?? error) !== null && <Notice error={orders.error ?? error} />}
      {orders.data && (
        <table class="orders" data-testid="admin-orders">
          <thead><tr><th>Order</th><th>Customer</th><th>Total</th><th>Status</th></tr></thead>
          <tbody>
            {orders.data.map((o) => (
              <tr key={o.id}>
                <td><Link href={`/orders/${o.id}`}>{o.order_number}</Link></td>
                <td>{o.customer_email}</td>
                <td><Price amount={o.total_amount} /></td>
                <td>
                  <select value={o.status} aria-label={`Status of ${o.order_number}`} onChange={(e) => change(o.id, e.currentTarget.value as OrderStatus)}>
                    {ORDER_STATUSES.map((s) => <option key={s} value={s}>{s}</option>)}
                  </select>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}

export function AdminPage() {
  const shop = useShop();
  if (!isAdmin(shop)) return <Notice kind="info">The admin pages need the admin role: sign in as an admin.</Notice>;
  return (
    <section class="admin">
      <h1>Admin</h1>
      {!shop.config?.auth_enabled && <Notice kind="info">Authentication is off (AUTH_ENABLED=false): everyone is admin here.</Notice>}
      <ProductsAdmin />
      <OrdersAdmin />
    </section>
  );
}
