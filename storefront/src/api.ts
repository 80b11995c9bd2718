// Every call the shop makes to the fleet, through the gateway on the same origin (/api/**).
// One module on purpose: when an endpoint's shape changes, this is the one file to edit.
import { getAccessToken } from "./auth";

// ---- shapes (each service's README and OpenAPI are the contract) ------------------------

export interface Product {
  id: string;
  name: string;
  description?: string | null;
  price: number;
  category: string;
  tags: string[];
  stock_quantity?: number;
  image_url?: string | null;
}

export interface SearchHit extends Product {
  score?: number | null;
}

export interface SearchPage {
  total: number;
  page: number;
  size: number;
  hits: SearchHit[];
}

export interface Facets {
  categories: { category: string; count: number }[];
  price_ranges: { key: string; min_price: number | null; max_price: number | null; count: number }[];
}

export interface FilterPage extends SearchPage {
  facets: Facets;
}

export interface ProductFilter {
  category?: string;
  minPrice?: number;
  maxPrice?: number;
  page?: number;
  size?: number;
}

export interface ProductPage {
  products: Product[];
  total: number;
  page: number;
  page_size: number;
}

export interface ProductInput {
  name: string;
  description?: string | null;
  price: number;
  category: string;
  tags?: string[];
  stock_quantity?: number;
  image_url?: string | null;
}

export interface Suggestion {
  id: string;
  name: string;
}

export interface StockItem {
  product_id: string;
  product_name: string;
  quantity: number;
  reserved_qty: number;
  available_qty: number;
  low_stock_threshold: number;
}

export type OrderStatus = "PENDING" | "CONFIRMED" | "SHIPPED" | "DELIVERED" | "CANCELLED";
export const ORDER_STATUSES: OrderStatus[] = ["PENDING", "CONFIRMED", "SHIPPED", "DELIVERED", "CANCELLED"];

export interface OrderLine {
  product_id: string;
  product_name: string;
  quantity: number;
  unit_price: number;
  total_price?: number;
}

export interface Order {
  id: string;
  order_number: string;
  customer_name: string;
  customer_email: string;
  total_amount: number;
  status: OrderStatus;
  items: OrderLine[];
  created_at: string;
  updated_at: string;
}

export interface NewOrder {
  customer_name: string;
  customer_email: string;
  items: OrderLine[];
}

export interface Notification {
  event_id: string;
  kind: string;
  to: string;
  subject: string;
  order_number?: string | null;
  sent_at: string;
}

export interface ProposedProduct {
  product_id: string;
  name: string;
  price: number;
  reason: string;
}

export interface ChatTurn {
  role: "user" | "assistant";
  content: string;
}

export interface ChatReply {
  reply: string;
  products: ProposedProduct[];
  generated_by: string;
}

export interface ShopConfig {
  auth_enabled: boolean;
  oidc_issuer_url: string;
  oidc_client_id: string;
}

// ---- errors: every refusal becomes a sentence a shopper can read ---------------------------

/** Which part of the shop a call belongs to, for "<part> is unavailable right now". */
export type Part = "catalog" | "search" | "stock" | "orders" | "emails" | "assistant" | "shop";

const PART_NAMES: Record<Part, string> = {
  catalog: "The catalog",
  search: "Search",
  stock: "Stock information",
  orders: "Ordering",
  emails: "The email list",
  assistant: "The shopping assistant",
  shop: "The shop",
};

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
    readonly part: Part,
    readonly detail: string | null = null,
    readonly retryAfterSeconds: number | null = null,
  ) {
    super(message);
    this.name = "ApiError";
  }

  /** The part is down or overloaded (not a refusal of what was asked). */
  get unavailable(): boolean {
    return this.status === 0 || this.status === 502 || this.status === 503 || this.status === 504;
  }
}

function detailOf(body: unknown): string | null {
  if (typeof body !== "object" || body === null) return null;
  const detail = (body as { detail?: unknown }).detail;
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    // FastAPI's 422: [{loc, msg}], said as "field: message".
    return detail
      .map((d) => {
        const item = d as { loc?: unknown[]; msg?: string };
        const field = Array.isArray(item.loc) ? item.loc.filter((x) => x !== "body").join(" ") : "";
        return field ? `${field}: ${item.msg ?? "invalid"}` : item.msg ?? "invalid";
      })
      .join("; ");
  }
  return null;
}

/** The sentence shown for a failed call; only the gateway's and services' sentences are shown,
 *  never a raw body or a stack trace. */
export function errorFor(status: number, part: Part, body: unknown, retryAfter: string | null): ApiError {
  const detail = detailOf(body);
  const name = PART_NAMES[part];
  const wait = retryAfter !== null && /^\d+$/.test(retryAfter.trim()) ? Number(retryAfter) : null;
  let message: string;
  if (status === 0) message = `${name} cannot be reached right now; check your connection and try again.`;
  else if (status === 429)
    message = `You are going a little fast: please wait ${wait ?? "a few"} second${wait === 1 ? "" : "s"} and try again.`;
  else if (status === 401) message = "Please sign in again: your session has ended or is missing.";
  else if (status === 403) message = detail ?? "You are not allowed to do that.";
  else if (status === 503 && part === "orders") message = "The shop is busy, try again in a moment.";
  else if (status === 502 || status === 503) message = `${name} is unavailable right now; the rest of the shop keeps working.`;
  else if (status === 504) message = `${name} is taking too long to answer; try again in a moment.`;
  else if (status >= 500) message = `${name} ran into a problem; try again in a moment.`;
  else if (status === 422) message = detail ? `Please check: ${detail}.` : "Please check what you entered.";
  else message = detail ?? `${name} refused the request (${status}).`;
  return new ApiError(message, status, part, detail, wait);
}

// ---- transport ---------------------------------------------------------------------------

const TIMEOUT_MS = 15_000;

interface CallOptions {
  method?: string;
  body?: unknown;
  headers?: Record<string, string>;
  timeoutMs?: number;
}

async function call<T>(part: Part, path: string, options: CallOptions = {}): Promise<T> {
  const headers: Record<string, string> = { accept: "application/json", ...options.headers };
  const token = getAccessToken();
  if (token) headers.authorization = `Bearer ${token}`;
  if (options.body !== undefined) headers["content-type"] = "application/json";
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), options.timeoutMs ?? TIMEOUT_MS);
  let response: Response;
  try {
    response = await fetch(path, {
      method: options.method ?? "GET",
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      signal: controller.signal,
    });
  } catch {
    throw errorFor(0, part, null, null);
  } finally {
    clearTimeout(timer);
  }
  let body: unknown = null;
  const text = await response.text().catch(() => "");
  if (text) {
    try {
      body = JSON.parse(text);
    } catch {
      body = null;
    }
  }
  if (!response.ok) throw errorFor(response.status, part, body, response.headers.get("retry-after"));
  return body as T;
}

function query(params: Record<string, string | number | undefined | null>): string {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== "") search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}

const id = encodeURIComponent;

// ---- the calls -----------------------------------------------------------------------------

export const api = {
  config: () => call<ShopConfig>("shop", "/config.json"),

  // search-service: fuzzy search, autocomplete, filters with facet counts
  search: (q: string, page = 1, size = 12) => call<SearchPage>("search", `/api/search${query({ q, page, size })}`),
  autocomplete: (q: string) =>
    call<{ suggestions: Suggestion[] }>("search", `/api/search/autocomplete${query({ q })}`).then((r) => r.suggestions),
  filter: (f: ProductFilter) =>
    call<FilterPage>("search", `/api/search/filter${query({
      category: f.category, minPrice: f.minPrice, maxPrice: f.maxPrice, page: f.page ?? 1, size: f.size ?? 12,
    })}`),

  // product-service
  products: (page = 1, pageSize = 12) => call<ProductPage>("catalog", `/api/products${query({ page, page_size: pageSize })}`),
  product: (productId: string) => call<Product>("catalog", `/api/products/${id(productId)}`),
  createProduct: (p: ProductInput) => call<Product>("catalog", "/api/products", { method: "POST", body: p }),
  updateProduct: (productId: string, p: Partial<ProductInput>) =>
    call<Product>("catalog", `/api/products/${id(productId)}`, { method: "PUT", body: p }),
  deleteProduct: (productId: string) => call<unknown>("catalog", `/api/products/${id(productId)}`, { method: "DELETE" }),

  // inventory-service
  stockList: () => call<StockItem[]>("stock", "/api/inventory?limit=500"),
  stock: (productId: string) => call<StockItem>("stock", `/api/inventory/${id(productId)}`),
  createStock: (productId: string, productName: string, quantity: number) =>
    call<StockItem>("stock", "/api/inventory", { method: "POST", body: { product_id: productId, product_name: productName, quantity } }),
  restock: (productId: string, quantity: number) =>
    call<StockItem>("stock", `/api/inventory/${id(productId)}/restock`, { method: "PATCH", body: { quantity } }),
  reduceStock: (productId: string, quantity: number) =>
    call<StockItem>("stock", `/api/inventory/${id(productId)}/reduce`, { method: "PATCH", body: { quantity } }),

  // order-service: one Idempotency-Key per checkout, so a retry or a double click is one order
  placeOrder: (order: NewOrder, idempotencyKey: string) =>
    call<Order>("orders", "/api/orders", { method: "POST", body: order, headers: { "idempotency-key": idempotencyKey } }),
  ordersOf: (email: string) => call<Order[]>("orders", `/api/orders/user/${id(email)}?limit=50`),
  allOrders: () => call<Order[]>("orders", "/api/orders?limit=50"),
  order: (orderId: string) => call<Order>("orders", `/api/orders/${id(orderId)}`),
  cancelOrder: (orderId: string) => call<Order>("orders", `/api/orders/${id(orderId)}/cancel`, { method: "PATCH" }),
  setOrderStatus: (orderId: string, status: OrderStatus) =>
    call<Order>("orders", `/api/orders/${id(orderId)}/status`, { method: "PATCH", body: { status } }),

  // notification-service: the emails the shop sent
  emails: (email: string) =>
    call<{ notifications: Notification[] }>("emails", `/api/notifications${query({ email, limit: 50 })}`).then((r) => r.notifications),

  // ai-service
  chat: (message: string, history: ChatTurn[]) =>
    call<ChatReply>("assistant", "/api/ai/chat", { method: "POST", body: { message, history }, timeoutMs: 35_000 }),
  recommendations: (productName: string, category: string) =>
    call<{ recommendations: ProposedProduct[]; generated_by: string }>(
      "assistant", `/api/ai/recommendations${query({ product_name: productName, category })}`),
};

/** "local-retrieval" answers were matched from the catalog, not written by a language model. */
export function writtenByModel(generatedBy: string): boolean {
  return generatedBy !== "local-retrieval" && generatedBy !== "";
}
