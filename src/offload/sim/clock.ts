/**
 * Time source of the emulator: the project's one Clock (seconds since the Unix epoch), re-exported
 * so the emulator's modules import it from beside them.
 */
export { manualClock, systemClock, type Clock, type ManualClock } from "../../model/time.js";
