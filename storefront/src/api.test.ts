import { describe, expect, it } from "vitest";
import { errorFor, writtenByModel } from "./api";

describe("refusals become sentences", () => {
  it("says how long to wait on a rate limit", () => {
    const e = errorFor(429, "orders", { detail: "Too many requests; slow down and retry later." }, "7");
    expect(e.message).toBe("You are going a little fast: please wait 7 seconds and try again.");
    expect(e.retryAfterSeconds).toBe(7);
  });

  it("calls an unavailable order-service a busy shop, and other parts by their name", () => {
    expect(errorFor(503, "orders", { detail: "inventory-service is unavailable" }, null).message).toBe("The shop is busy, try again in a moment.");
    const ai = errorFor(503, "assistant", { detail: "ai-service is unavailable." }, null);
    expect(ai.message).toBe("The shopping assistant is unavailable right now; the rest of the shop keeps working.");
    expect(ai.unavailable).toBe(true);
    expect(errorFor(0, "search", null, null).unavailable).toBe(true);
  });

  it("shows the service's own sentence for a refused request, never a raw body", () => {
    const e = errorFor(400, "orders", { detail: "Insufficient stock for product: Lamp" }, null);
    expect(e.message).toBe("Insufficient stock for product: Lamp");
    expect(e.detail).toBe("Insufficient stock for product: Lamp");
    const validation = errorFor(422, "orders", { detail: [{ loc: ["body", "customer_email"], msg: "value is not a valid email address" }] }, null);
    expect(validation.message).toBe("Please check: customer_email: value is not a valid email address.");
    expect(errorFor(500, "catalog", "<html>Traceback ...</html>", null).message).toBe("The catalog ran into a problem; try again in a moment.");
  });

  it("labels answers no language model wrote", () => {
    expect(writtenByModel("local-retrieval")).toBe(false);
    expect(writtenByModel("groq:llama-3.1-8b-instant")).toBe(true);
  });
});
