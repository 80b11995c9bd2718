import { describe, expect, it } from "vitest";
import { addToCart, cartCount, cartTotal, loadCart, MAX_QUANTITY, parseCart, removeFromCart, saveCart, setQuantity, STORAGE_KEY } from "./cart";
import { formatMoney } from "./money";

const lamp = { product_id: "p1", name: "Lamp", unit_cents: 1010 };
const desk = { product_id: "p2", name: "Desk", unit_cents: 2020 };

function memoryStorage() {
  const data = new Map<string, string>();
  return { getItem: (k: string) => data.get(k) ?? null, setItem: (k: string, v: string) => void data.set(k, v), data };
}

describe("cart", () => {
  it("adds lines and merges the same product into one line", () => {
    let cart = addToCart([], lamp);
    cart = addToCart(cart, desk, 2);
    cart = addToCart(cart, lamp);
    expect(cart.map((l) => [l.product_id, l.quantity])).toEqual([["p1", 2], ["p2", 2]]);
    expect(cartCount(cart)).toBe(4);
  });

  it("totals exactly to the cent", () => {
    const cart = addToCart(addToCart([], lamp, 1), desk, 1); // 10.10 + 20.20
    expect(cartTotal(cart)).toBe(3030);
    expect(formatMoney(cartTotal(cart))).toBe("$30.30");
    const many = setQuantity(cart, "p1", 7); // 7 x 10.10 + 20.20 = 90.90
    expect(formatMoney(cartTotal(many))).toBe("$90.90");
  });

  it("changes quantities, removes at zero, and keeps quantities whole and bounded", () => {
    let cart = addToCart([], lamp);
    cart = setQuantity(cart, "p1", 3.7);
    expect(cart[0].quantity).toBe(3);
    cart = setQuantity(cart, "p1", 10_000);
    expect(cart[0].quantity).toBe(MAX_QUANTITY);
    expect(setQuantity(cart, "p1", 0)).toEqual([]);
    expect(removeFromCart(addToCart(cart, desk), "p1").map((l) => l.product_id)).toEqual(["p2"]);
  });

  it("never changes the cart it was given", () => {
    const cart = addToCart([], lamp);
    const frozen = JSON.stringify(cart);
    addToCart(cart, lamp);
    setQuantity(cart, "p1", 5);
    removeFromCart(cart, "p1");
    expect(JSON.stringify(cart)).toBe(frozen);
  });

  it("survives a reload through storage", () => {
    const storage = memoryStorage();
    saveCart(addToCart(addToCart([], lamp), desk, 2), storage);
    expect(loadCart(storage)).toEqual([{ ...lamp, quantity: 1 }, { ...desk, quantity: 2 }]);
    expect(storage.data.has(STORAGE_KEY)).toBe(true);
  });

  it("drops unreadable or tampered storage instead of breaking the page", () => {
    expect(parseCart(null)).toEqual([]);
    expect(parseCart("{not json")).toEqual([]);
    expect(parseCart('{"a": 1}')).toEqual([]);
    const tampered = JSON.stringify([{ ...lamp, quantity: 1 }, { ...desk, quantity: -2 }, { ...desk, unit_cents: 1.5, quantity: 1 }, "x"]);
    expect(parseCart(tampered)).toEqual([{ ...lamp, quantity: 1 }]);
  });
});
