/** cluster-key-slot ships no declarations: the slot (0–16383) of a key, honouring a `{hash tag}`. */
declare module "cluster-key-slot" {
  export default function calculateSlot(key: string | Buffer): number;
}
