import type { ComponentChildren } from "preact";
import { useEffect, useState } from "preact/hooks";
import { ApiError, type StockItem } from "../api";
import { addToCart } from "../cart";
import { formatMoney, toCents } from "../money";
import { Link } from "../router";
import { getState, update } from "../store";

/** A sentence about a part of the shop that failed; never a raw body or a trace. */
export function Notice({ error, children, kind = "warning" }: { error?: unknown; children?: ComponentChildren; kind?: "warning" | "info" | "success" }) {
  const text = error instanceof Error ? error.message : error ? "Something went wrong; try again in a moment." : null;
  return <p class={`notice notice-${kind}`} role={kind === "warning" ? "alert" : "status"}>{text}{children}</p>;
}

export function Price({ amount }: { amount: number }) {
  return <span class="price">{formatMoney(toCents(amount))}</span>;
}

// Demo images live on hosts an offline machine cannot reach: fall back to a tidy placeholder.
export function ProductImage({ url, name }: { url?: string | null; name: string }) {
  const [failed, setFailed] = useState(!url);
  useEffect(() => setFailed(!url), [url]);
  if (failed) {
    return <div class="image placeholder" aria-label={`${name} (no image)`}><span>{name.slice(0, 1).toUpperCase()}</span></div>;
  }
  return <img class="image" src={url ?? ""} alt={name} loading="lazy" onError={() => setFailed(true)} />;
}

export const LOW_STOCK = 5;

/** "In stock", "Only 3 left", "Out of stock", or nothing when stock is unknown. */
export function availabilityText(stock: StockItem | undefined): string | null {
  if (!stock) return null;
  if (stock.available_qty <= 0) return "Out of stock";
  if (stock.available_qty <= LOW_STOCK) return `Only ${stock.available_qty} left`;
  return "In stock";
}

export function Availability({ stock }: { stock: StockItem | undefined }) {
  const text = availabilityText(stock);
  if (!text) return null;
  const kind = !stock || stock.available_qty <= 0 ? "out" : stock.available_qty <= LOW_STOCK ? "low" : "in";
  return <span class={`availability availability-${kind}`} data-testid="availability">{text}</span>;
}

export interface CardProduct {
  id: string;
  name: string;
  price: number;
  category?: string;
  image_url?: string | null;
}

export function ProductCard({ product, stock, note }: { product: CardProduct; stock?: StockItem; note?: string }) {
  const soldOut = stock !== undefined && stock.available_qty <= 0;
  const add = () =>
    update({ cart: addToCart(getState().cart, { product_id: product.id, name: product.name, unit_cents: toCents(product.price), image_url: product.image_url }) });
  return (
    <article class="product-card" data-product-id={product.id}>
      <Link href={`/product/${product.id}`} class="card-link">
        <ProductImage url={product.image_url} name={product.name} />
        <h3>{product.name}</h3>
      </Link>
      {product.category && <p class="muted">{product.category}</p>}
      {note && <p class="muted reason">{note}</p>}
      <p class="card-foot"><Price amount={product.price} /> <Availability stock={stock} /></p>
      <button type="button" disabled={soldOut} onClick={add} aria-label={`Add ${product.name} to cart`}>Add to cart</button>
    </article>
  );
}

/** For async loads: data, error and loading, refetched when `deps` change. */
export function useLoad<T>(load: () => Promise<T>, deps: unknown[]): { data: T | null; error: unknown; loading: boolean; reload: () => void } {
  const [result, setResult] = useState<{ data: T | null; error: unknown; loading: boolean }>({ data: null, error: null, loading: true });
  const [tick, setTick] = useState(0);
  useEffect(() => {
    let live = true;
    setResult((r) => ({ ...r, loading: true }));
    load().then(
      (data) => live && setResult({ data, error: null, loading: false }),
      (error: unknown) => live && setResult({ data: null, error, loading: false }),
    );
    return () => {
      live = false;
    };
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [...deps, tick]);
  return { ...result, reload: () => setTick((n) => n + 1) };
}

export function isUnavailable(error: unknown): boolean {
  return error instanceof ApiError && error.unavailable;
}

export function stockMap(items: StockItem[] | null): Map<string, StockItem> {
  return new Map((items ?? []).map((s) => [s.product_id, s]));
}
