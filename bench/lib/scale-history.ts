import { temporal } from '@temporalio/proto';

/**
 * What a promotion's Temporal history says about the engine: queueing (schedule-to-start of activity
 * and workflow tasks), the time between one activity's end and the next one's start (the engine's
 * overhead per step), the activities' own time, and how many events each kind of step writes.
 * Pure: reads events, never the server.
 */
export type HistoryEvent = temporal.api.history.v1.IHistoryEvent;
const T = temporal.api.enums.v1.EventType;

/** Milliseconds since the epoch of an event's timestamp (seconds may arrive as a Long). */
export function eventMs(e: HistoryEvent): number {
  const t = e.eventTime;
  if (!t) throw new Error(`event ${String(e.eventId)} has no time`);
  const seconds = typeof t.seconds === 'number' ? t.seconds : Number(t.seconds?.toString() ?? 0);
  return seconds * 1000 + (t.nanos ?? 0) / 1e6;
}

/** Event ids arrive as numbers or Longs; both print as their decimal value. */
type EventId = number | { toString(): string } | null | undefined;
const idOf = (value: EventId): number => (typeof value === 'number' ? value : Number(value?.toString() ?? 0));

interface ActivitySpan {
  readonly name: string;
  readonly scheduledId: number;
  /** The workflow task whose completion scheduled it. */
  readonly decidedBy: number;
  readonly scheduled: number;
  started?: number;
  closedId?: number;
  closed?: number;
}

/** Events that mean the workflow waited for something outside the engine (a timer, a message, a child). */
const WAITS = new Set<number>([
  T.EVENT_TYPE_TIMER_STARTED,
  T.EVENT_TYPE_TIMER_FIRED,
  T.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED,
  T.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED,
  T.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED,
  T.EVENT_TYPE_START_CHILD_WORKFLOW_EXECUTION_INITIATED,
]);

const CLOSED = new Set<number>([
  T.EVENT_TYPE_ACTIVITY_TASK_COMPLETED,
  T.EVENT_TYPE_ACTIVITY_TASK_FAILED,
  T.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT,
  T.EVENT_TYPE_ACTIVITY_TASK_CANCELED,
]);

function closedAttrs(e: HistoryEvent): { scheduledEventId?: EventId } | null | undefined {
  return (
    e.activityTaskCompletedEventAttributes ??
    e.activityTaskFailedEventAttributes ??
    e.activityTaskTimedOutEventAttributes ??
    e.activityTaskCanceledEventAttributes
  );
}

export function activitySpans(events: readonly HistoryEvent[]): ActivitySpan[] {
  const spans = new Map<number, ActivitySpan>();
  for (const e of events) {
    const id = idOf(e.eventId);
    if (e.eventType === T.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED) {
      const name = e.activityTaskScheduledEventAttributes?.activityType?.name ?? '?';
      const decidedBy = idOf(e.activityTaskScheduledEventAttributes?.workflowTaskCompletedEventId);
      spans.set(id, { name, scheduledId: id, decidedBy, scheduled: eventMs(e) });
    } else if (e.eventType === T.EVENT_TYPE_ACTIVITY_TASK_STARTED) {
      const span = spans.get(idOf(e.activityTaskStartedEventAttributes?.scheduledEventId));
      // A retried activity's Started event is written at its end, with the last attempt's start time.
      if (span) span.started = eventMs(e);
    } else if (e.eventType != null && CLOSED.has(e.eventType)) {
      const span = spans.get(idOf(closedAttrs(e)?.scheduledEventId));
      if (span) {
        span.closedId = id;
        span.closed = eventMs(e);
      }
    }
  }
  return [...spans.values()].sort((a, b) => a.scheduledId - b.scheduledId);
}

/** One step boundary: from the end of the work before it to the start of the next activity (or the close). */
export interface StepGap {
  /** The activity that ended the previous step ('start' for the workflow's start). */
  readonly after: string;
  /** The activity that started next ('close' for the workflow's completion). */
  readonly before: string;
  /** From the previous end to the next activity's scheduling: the workflow task round trip. */
  readonly decideMs: number;
  /** From scheduling to start: the activity task's dispatch. Zero for the close. */
  readonly dispatchMs: number;
  readonly totalMs: number;
  /**
   * `decideMs` split by the workflow task that decided the next step: the server's reaction (previous
   * end → task scheduled), the task's queueing (scheduled → picked up by a worker) and its run on the
   * worker (picked up → completed, including the round trip). NaN when the history lacks the task.
   */
  readonly reactMs: number;
  readonly queueMs: number;
  readonly runMs: number;
}

export interface HistoryAnalysis {
  readonly events: number;
  readonly eventsByType: Readonly<Record<string, number>>;
  readonly startedMs: number;
  readonly closedMs: number | undefined;
  readonly endToEndMs: number | undefined;
  readonly activityScheduleToStartMs: readonly number[];
  readonly workflowTaskScheduleToStartMs: readonly number[];
  readonly workflowTaskRunMs: readonly number[];
  /** Activities' own time (start to close), by name. */
  readonly activityRunMs: readonly { readonly name: string; readonly ms: number }[];
  /** Step boundaries with nothing but the engine in between (no timer, message or child). */
  readonly gaps: readonly StepGap[];
  /** Boundaries excluded from `gaps` because the workflow waited on purpose there. */
  readonly waits: number;
}

function eventTypeName(type: number | null | undefined): string {
  return (T[type ?? 0] ?? String(type)).replace(/^EVENT_TYPE_/, '');
}

export function analyzeHistory(events: readonly HistoryEvent[]): HistoryAnalysis {
  const byType: Record<string, number> = {};
  for (const e of events) {
    const name = eventTypeName(e.eventType);
    byType[name] = (byType[name] ?? 0) + 1;
  }
  const first = events[0];
  if (!first || first.eventType !== T.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED)
    throw new Error('a history starts with WorkflowExecutionStarted');
  const startedMs = eventMs(first);
  const closeEvent = events.find((e) => e.eventType === T.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED);
  const closedMs = closeEvent ? eventMs(closeEvent) : undefined;

  const wftScheduled = new Map<number, number>();
  const wftStarted = new Map<number, number>();
  const wftCompleted = new Map<number, { scheduled: number; started: number; completed: number }>();
  const workflowTaskScheduleToStartMs: number[] = [];
  const workflowTaskRunMs: number[] = [];
  for (const e of events) {
    const id = idOf(e.eventId);
    if (e.eventType === T.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED) wftScheduled.set(id, eventMs(e));
    if (e.eventType === T.EVENT_TYPE_WORKFLOW_TASK_STARTED) {
      const scheduled = wftScheduled.get(idOf(e.workflowTaskStartedEventAttributes?.scheduledEventId));
      if (scheduled !== undefined) workflowTaskScheduleToStartMs.push(eventMs(e) - scheduled);
      wftStarted.set(id, eventMs(e));
    }
    if (e.eventType === T.EVENT_TYPE_WORKFLOW_TASK_COMPLETED) {
      const attrs = e.workflowTaskCompletedEventAttributes;
      const started = wftStarted.get(idOf(attrs?.startedEventId));
      const scheduled = wftScheduled.get(idOf(attrs?.scheduledEventId));
      if (started !== undefined) workflowTaskRunMs.push(eventMs(e) - started);
      if (started !== undefined && scheduled !== undefined)
        wftCompleted.set(id, { scheduled, started, completed: eventMs(e) });
    }
  }

  const spans = activitySpans(events);
  const waitIds = events
    .filter((e) => e.eventType != null && WAITS.has(e.eventType))
    .map((e) => idOf(e.eventId));
  const waitedBetween = (from: number, to: number): boolean => waitIds.some((id) => id > from && id < to);
  const gaps: StepGap[] = [];
  let waits = 0;
  const split = (prevEnd: number, decidedBy: number): Pick<StepGap, 'reactMs' | 'queueMs' | 'runMs'> => {
    const task = wftCompleted.get(decidedBy);
    if (!task) return { reactMs: NaN, queueMs: NaN, runMs: NaN };
    return {
      reactMs: task.scheduled - prevEnd,
      queueMs: task.started - task.scheduled,
      runMs: task.completed - task.started,
    };
  };
  // The end the next activity (or the close) followed: the latest close before its scheduling.
  const previousEnd = (beforeId: number): { name: string; id: number; ms: number } => {
    let best = { name: 'start', id: idOf(first.eventId), ms: startedMs };
    for (const s of spans)
      if (s.closedId !== undefined && s.closed !== undefined && s.closedId < beforeId && s.closedId > best.id)
        best = { name: s.name, id: s.closedId, ms: s.closed };
    return best;
  };
  const scheduledWhileOthersRan = (s: ActivitySpan): boolean =>
    spans.some(
      (o) =>
        o !== s && o.scheduledId < s.scheduledId && (o.closedId === undefined || o.closedId > s.scheduledId),
    );
  for (const s of spans) {
    if (s.started === undefined) continue;
    // Started beside another activity still running: not a step boundary of its own.
    if (scheduledWhileOthersRan(s)) continue;
    const prev = previousEnd(s.scheduledId);
    if (waitedBetween(prev.id, s.scheduledId)) {
      waits++;
      continue;
    }
    gaps.push({
      after: prev.name,
      before: s.name,
      decideMs: s.scheduled - prev.ms,
      dispatchMs: s.started - s.scheduled,
      totalMs: s.started - prev.ms,
      ...split(prev.ms, s.decidedBy),
    });
  }
  if (closeEvent && closedMs !== undefined) {
    const closeId = idOf(closeEvent.eventId);
    const prev = previousEnd(closeId);
    if (waitedBetween(prev.id, closeId)) waits++;
    else
      gaps.push({
        after: prev.name,
        before: 'close',
        decideMs: closedMs - prev.ms,
        dispatchMs: 0,
        totalMs: closedMs - prev.ms,
        ...split(
          prev.ms,
          idOf(closeEvent.workflowExecutionCompletedEventAttributes?.workflowTaskCompletedEventId),
        ),
      });
  }

  return {
    events: events.length,
    eventsByType: byType,
    startedMs,
    closedMs,
    endToEndMs: closedMs === undefined ? undefined : closedMs - startedMs,
    activityScheduleToStartMs: spans.flatMap((s) =>
      s.started === undefined ? [] : [s.started - s.scheduled],
    ),
    workflowTaskScheduleToStartMs,
    workflowTaskRunMs,
    activityRunMs: spans.flatMap((s) =>
      s.started === undefined || s.closed === undefined ? [] : [{ name: s.name, ms: s.closed - s.started }],
    ),
    gaps,
    waits,
  };
}

/** Percentile (0–1) of `values` by linear interpolation; NaN for none. */
export function percentile(values: readonly number[], q: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const at = (sorted.length - 1) * q;
  const lo = Math.floor(at);
  const hi = Math.ceil(at);
  const a = sorted[lo] as number;
  const b = sorted[hi] as number;
  return a + (b - a) * (at - lo);
}
