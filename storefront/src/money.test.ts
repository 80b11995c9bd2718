import { describe, expect, it } from "vitest";
import { formatMoney, fromCents, lineTotal, toCents } from "./money";

describe("money", () => {
  it("reads two-decimal JSON prices as exact cents", () => {
    expect(toCents(49.9)).toBe(4990);
    expect(toCents(0.1)).toBe(10);
    expect(toCents(1999.98)).toBe(199998);
    expect(toCents(1.005)).toBe(100); // not a valid price (3 decimals): rounds to the nearest cent
  });

  it("adds prices without the float drift of 0.1 + 0.2", () => {
    expect(0.1 + 0.2).not.toBe(0.3);
    expect(formatMoney(toCents(0.1) + toCents(0.2))).toBe("$0.30");
    expect(formatMoney(lineTotal(toCents(19.99), 3))).toBe("$59.97");
  });

  it("formats cents with a dollar sign, thousands separators and two decimals", () => {
    expect(formatMoney(0)).toBe("$0.00");
    expect(formatMoney(5)).toBe("$0.05");
    expect(formatMoney(99980)).toBe("$999.80");
    expect(formatMoney(123456789)).toBe("$1,234,567.89");
    expect(formatMoney(-1050)).toBe("-$10.50");
  });

  it("sends cents back as the JSON number with the same two decimals", () => {
    expect(fromCents(4990)).toBe(49.9);
    expect(fromCents(30)).toBe(0.3);
    expect(JSON.stringify({ unit_price: fromCents(199998) })).toBe('{"unit_price":1999.98}');
  });

  it("refuses what is not money", () => {
    expect(() => toCents(Number.NaN)).toThrow(RangeError);
    expect(() => formatMoney(1.5)).toThrow(RangeError);
  });
});
