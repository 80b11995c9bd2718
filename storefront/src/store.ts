// What every page shares: the shop's configuration, the cart, who is shopping.
import type { ShopConfig } from "./api";
import { currentIdentity, type Identity } from "./auth";
import { type Cart, loadCart, saveCart } from "./cart";
import { useNotified } from "./subscribe";

export interface Shopper {
  name: string;
  email: string;
}

export interface ShopState {
  config: ShopConfig | null;
  cart: Cart;
  identity: Identity | null;
  // With AUTH_ENABLED=false the shop asks for a name and an email instead of a sign-in.
  guest: Shopper | null;
}

const GUEST_KEY = "storefront.guest.v1";

function loadGuest(): Shopper | null {
  try {
    const value = JSON.parse(localStorage.getItem(GUEST_KEY) ?? "null") as Shopper | null;
    return value && typeof value.name === "string" && typeof value.email === "string" ? value : null;
  } catch {
    return null;
  }
}

let state: ShopState = { config: null, cart: loadCart(), identity: currentIdentity(), guest: loadGuest() };
const listeners = new Set<() => void>();

export function getState(): ShopState {
  return state;
}

export function update(change: Partial<ShopState>): void {
  state = { ...state, ...change };
  if (change.cart) saveCart(change.cart);
  if (change.guest !== undefined) localStorage.setItem(GUEST_KEY, JSON.stringify(change.guest));
  listeners.forEach((notify) => notify());
}

// Another tab changed the cart: follow it.
addEventListener("storage", (event) => {
  if (event.key === null || event.key.startsWith("storefront.cart")) update({ cart: loadCart() });
});

export function useShop(): ShopState {
  useNotified(listeners);
  return state;
}

/** Who orders: the signed-in customer (auth on) or the guest's details (auth off). */
export function shopper(s: ShopState): Shopper | null {
  if (s.identity?.email) return { name: s.identity.name, email: s.identity.email };
  return s.config?.auth_enabled ? null : s.guest;
}

export function isAdmin(s: ShopState): boolean {
  return !!s.identity?.roles.includes("admin") || (s.config !== null && !s.config.auth_enabled);
}
