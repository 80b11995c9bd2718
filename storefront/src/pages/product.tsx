import { useState } from "preact/hooks";
import { api } from "../api";
import { Availability, isUnavailable, Notice, Price, ProductCard, ProductImage, useLoad } from "../components/common";
import { addToCart } from "../cart";
import { toCents } from "../money";
import { getState, update } from "../store";
import { NeedsSignIn } from "./catalog";

function Recommendations({ name, category }: { name: string; category: string }) {
  const recs = useLoad(() => api.recommendations(name, category), [name, category]);
  return (
    <section class="recommendations" aria-label="You may also like">
      <h2>You may also like</h2>
      {recs.loading && <p class="muted">Finding related products…</p>}
      {recs.error !== null && (
        <Notice error={isUnavailable(recs.error) ? new Error("Recommendations are unavailable right now.") : recs.error} />
      )}
      {recs.data && (recs.data.recommendations.length === 0
        ? <p class="muted">Nothing related yet.</p>
        : (
          <div class="grid small">
            {recs.data.recommendations.slice(0, 4).map((r) => (
              <ProductCard key={r.product_id} product={{ id: r.product_id, name: r.name, price: r.price }} note={r.reason} />
            ))}
          </div>
        ))}
    </section>
  );
}

export function ProductPage({ productId }: { productId: string }) {
  const product = useLoad(() => api.product(productId), [productId]);
  const stock = useLoad(() => api.stock(productId), [productId]);
  const [quantity, setQuantity] = useState(1);
  const [added, setAdded] = useState(false);
  if (product.loading && !product.data) return <p class="muted">Loading…</p>;
  if (product.error || !product.data) return <NeedsSignIn error={product.error} />;
  const p = product.data;
  const available = stock.data?.available_qty;
  const add = () => {
    update({ cart: addToCart(getState().cart, { product_id: p.id, name: p.name, unit_cents: toCents(p.price), image_url: p.image_url }, quantity) });
    setAdded(true);
  };
  return (
    <>
      <section class="product">
        <ProductImage url={p.image_url} name={p.name} />
        <div>
          <h1>{p.name}</h1>
          <p class="muted">{p.category}{p.tags.length > 0 && ` · ${p.tags.join(", ")}`}</p>
          <p class="big"><Price amount={p.price} /></p>
          <p>{p.description}</p>
          <p>
            <Availability stock={stock.data ?? undefined} />
            {stock.error !== null && <span class="muted">{isUnavailable(stock.error) ? "Stock information is unavailable right now." : "No stock information for this product."}</span>}
          </p>
          <div class="buy">
            <label>Quantity <input type="number" min="1" max="999" value={quantity} onInput={(e) => setQuantity(Math.max(1, Number(e.currentTarget.value) || 1))} /></label>
            <button type="button" onClick={add} disabled={available !== undefined && available <= 0}>Add to cart</button>
          </div>
          {added && <Notice kind="success">Added to your cart.</Notice>}
        </div>
      </section>
      <Recommendations name={p.name} category={p.category} />
    </>
  );
}
