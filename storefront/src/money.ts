// Money in the shop is whole cents (integers): sums of prices never drift as float sums do.
// The API speaks JSON numbers with two decimals (`1999.98`); they come in and go out here.

export type Cents = number;

/** A JSON price (at most two decimals) as whole cents: 49.9 -> 4990. */
export function toCents(amount: number): Cents {
  if (!Number.isFinite(amount)) throw new RangeError(`not a price: ${amount}`);
  return Math.round(amount * 100);
}

/** Whole cents as the JSON number the API expects: 4990 -> 49.9 (the nearest double to 49.90). */
export function fromCents(cents: Cents): number {
  return Number(centsToDecimalString(cents));
}

function centsToDecimalString(cents: Cents): string {
  if (!Number.isSafeInteger(cents)) throw new RangeError(`not a whole number of cents: ${cents}`);
  const sign = cents < 0 ? "-" : "";
  const digits = String(Math.abs(cents)).padStart(3, "0");
  return `${sign}${digits.slice(0, -2)}.${digits.slice(-2)}`;
}

/** "$1,999.98": built from the integer, so what is shown is exactly what is charged. */
export function formatMoney(cents: Cents): string {
  const [whole, fraction] = centsToDecimalString(cents).split(".");
  const negative = whole.startsWith("-");
  const grouped = (negative ? whole.slice(1) : whole).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return `${negative ? "-" : ""}$${grouped}.${fraction}`;
}

/** Quantity times a unit price, in cents, exactly. */
export function lineTotal(unitCents: Cents, quantity: number): Cents {
  return unitCents * quantity;
}
