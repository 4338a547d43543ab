export { isLoopbackHost, checkTarget } from './target';
export { loadTrafficRows, parseShift, type TrafficRowSource } from './rows';
export {
  runTraffic,
  TRAFFIC_LIMITS,
  TrafficSettings,
  type RunTrafficOptions,
  type TrafficResponse,
  type TrafficSummary,
  type TimelineSecond,
} from './run';
