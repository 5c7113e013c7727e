/** Every auth decision takes `now` from here; tests pass a clock they can move. */
export interface Clock {
  now(): Date;
}
