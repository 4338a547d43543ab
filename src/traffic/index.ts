export { isLoopbackHost, checkTarget } from './target';
export { loadTrafficRows, parseShift, type TrafficRowSource } from './rows';
export { parseFeatureList } from './features';
export { v2InputOf, type V2Input } from './model-input';
export { trafficVerdict, type TrafficVerdict } from './verdict';
export {
  runTraffic,
  TRAFFIC_LIMITS,
  TrafficSettings,
  type RunTrafficOptions,
  type TrafficResponse,
  type TrafficSummary,
  type TimelineSecond,
  type ErrorCount,
} from './run';
