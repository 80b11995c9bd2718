// The cart: pure functions over a plain list, kept in localStorage so it survives reloads.
import { type Cents, lineTotal } from "./money";

export interface CartLine {
  product_id: string;
  name: string;
  unit_cents: Cents;
  quantity: number;
  image_url?: string | null;
}

export type Cart = CartLine[];

// order-service refuses more than 100 lines and quantities below 1.
export const MAX_LINES = 100;
export const MAX_QUANTITY = 999;
export const STORAGE_KEY = "storefront.cart.v1";

function clampQuantity(quantity: number): number {
  if (!Number.isFinite(quantity)) return 1;
  return Math.min(MAX_QUANTITY, Math.max(1, Math.floor(quantity)));
}

export function addToCart(cart: Cart, line: Omit<CartLine, "quantity">, quantity = 1): Cart {
  const existing = cart.find((l) => l.product_id === line.product_id);
  if (existing) {
    return setQuantity(cart, line.product_id, existing.quantity + quantity);
  }
  if (cart.length >= MAX_LINES) return cart;
  return [...cart, { ...line, quantity: clampQuantity(quantity) }];
}

/** A quantity below 1 removes the line. */
export function setQuantity(cart: Cart, productId: string, quantity: number): Cart {
  if (quantity < 1) return removeFromCart(cart, productId);
  return cart.map((l) => (l.product_id === productId ? { ...l, quantity: clampQuantity(quantity) } : l));
}

export function removeFromCart(cart: Cart, productId: string): Cart {
  return cart.filter((l) => l.product_id !== productId);
}

export function cartTotal(cart: Cart): Cents {
  return cart.reduce((sum, l) => sum + lineTotal(l.unit_cents, l.quantity), 0);
}

export function cartCount(cart: Cart): number {
  return cart.reduce((sum, l) => sum + l.quantity, 0);
}

function isLine(value: unknown): value is CartLine {
  if (typeof value !== "object" || value === null) return false;
  const l = value as Record<string, unknown>;
  return typeof l.product_id === "string" && typeof l.name === "string"
    && Number.isSafeInteger(l.unit_cents) && (l.unit_cents as number) > 0
    && Number.isSafeInteger(l.quantity) && (l.quantity as number) >= 1;
}

/** Whatever is stored, a valid cart comes back: unreadable or tampered lines are dropped. */
export function parseCart(raw: string | null): Cart {
  if (!raw) return [];
  try {
    const value: unknown = JSON.parse(raw);
    return Array.isArray(value) ? value.filter(isLine).slice(0, MAX_LINES) : [];
  } catch {
    return [];
  }
}

export function loadCart(storage: Pick<Storage, "getItem"> = localStorage): Cart {
  return parseCart(storage.getItem(STORAGE_KEY));
}

export function saveCart(cart: Cart, storage: Pick<Storage, "setItem"> = localStorage): void {
  storage.setItem(STORAGE_KEY, JSON.stringify(cart));
}
