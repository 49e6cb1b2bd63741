/**
 * A window of a room's history around one event, for jumps to messages that are far back (a search
 * result, a reply's original): the server's /context gives the event with its neighbours, and the
 * window grows from there in both directions (the SDK's TimelineWindow, which walks across the
 * timelines it loaded and joins them to the live one when they meet). The live timeline is not
 * touched, so nothing between that event and now has to be loaded.
 */
import { Direction, MatrixEvent, TimelineWindow } from "matrix-js-sdk";
import { threadRelationOf } from "./events";
import { getClient } from "./session";

const PAGE = 30;

export class FocusedTimeline {
  private constructor(
    readonly roomId: string,
    readonly eventId: string,
    private readonly window: TimelineWindow,
  ) {}

  /**
   * Loads the history around `eventId`. A thread reply that is not loaded cannot be shown in the main
   * timeline (the SDK keeps threads apart): then `{ threadRootId }` says which thread to open instead.
   */
  static async around(roomId: string, eventId: string): Promise<FocusedTimeline | { threadRootId: string }> {
    const c = getClient();
    const room = c.getRoom(roomId);
    if (!room) throw new Error("Not in this conversation");
    const timelineSet = room.getUnfilteredTimelineSet();
    const timeline = await c.getEventTimeline(timelineSet, eventId);
    if (!timeline) {
      const raw = await c.fetchRoomEvent(roomId, eventId);
      const thread = threadRelationOf(new MatrixEvent(raw));
      if (thread) return { threadRootId: thread.rootId };
      throw new Error("The message is not available.");
    }
    const window = new TimelineWindow(c, timelineSet, { windowLimit: 2000 });
    await window.load(eventId, 2 * PAGE);
    return new FocusedTimeline(roomId, eventId, window);
  }

  events(): MatrixEvent[] {
    return this.window.getEvents();
  }

  canLoadOlder(): boolean {
    return this.window.canPaginate(Direction.Backward);
  }

  canLoadNewer(): boolean {
    return this.window.canPaginate(Direction.Forward);
  }

  async loadOlder(): Promise<boolean> {
    return this.window.paginate(Direction.Backward, PAGE);
  }

  async loadNewer(): Promise<boolean> {
    return this.window.paginate(Direction.Forward, PAGE);
  }

  /** The window has grown up to the live end of the room: the live timeline can take over. */
  reachedLive(): boolean {
    const end = this.window.getTimelineIndex(Direction.Forward);
    const live = getClient().getRoom(this.roomId)?.getLiveTimeline();
    return !!end && end.timeline === live && !this.canLoadNewer();
  }
}
