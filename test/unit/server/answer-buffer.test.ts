import { describe, expect, it } from "vitest";
import { AnswerBuffer } from "../../../src/server/answer-buffer.js";

describe("AnswerBuffer", () => {
  it("hands a buffer to one caller at a time and keeps the larger of two given back", () => {
    const b = new AnswerBuffer();
    expect(b.take()).toBeUndefined();
    const small = new Uint8Array(10);
    const large = new Uint8Array(100);
    b.give(large);
    b.give(small);
    expect(b.heldBytes).toBe(100);
    expect(b.take()).toBe(large);
    // Taken: a second caller meanwhile gets none (it would be written by two answers at once).
    expect(b.take()).toBeUndefined();
    expect(b.heldBytes).toBe(0);
    b.give(small);
    expect(b.take()).toBe(small);
  });
});
