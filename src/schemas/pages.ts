import { Type, type Static } from "typebox";
import { DeadLetter } from "./subscriber.js";

/** Where a page of dead letters continues: the last row's id, opaque to clients. */
export const DeadLetterCursor = Type.String({
  pattern: "^[1-9][0-9]{0,14}$",
  description: "the `next` of the previous page",
});

export const DeadLetterPage = Type.Object(
  {
    dead_letters: Type.Array(Type.Unsafe<Static<typeof DeadLetter>>(Type.Ref("DeadLetter"))),
    next: Type.Union([DeadLetterCursor, Type.Null()], {
      description:
        "pass as `cursor` for the next (older) page; null on the last page. A page holds at most `limit` dead " +
        "letters and about 1 MiB of stored events and errors (always at least one)",
    }),
  },
  { $id: "DeadLetterPage", description: "Dead letters, newest first." },
);
export type DeadLetterPage = Static<typeof DeadLetterPage>;
