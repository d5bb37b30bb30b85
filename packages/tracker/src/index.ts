export {
  type ConversionDetails,
  type ConversionType,
  createTracker,
  type ExitOutcome,
  type Tracker,
  type TrackerOptions,
} from "./tracker";
