import { useEffect, useRef } from "react";
import { requestWhenVisible } from "@/lib/avatar-requests";
import { cn } from "@/lib/cn";
import { hueFor, initials } from "@/lib/rooms";
import { useUiStore } from "@/store/ui";

/**
 * Initials on a colour from the ID; the avatar picture instead once its (authenticated) thumbnail is
 * loaded. The thumbnail is only requested once the avatar is on screen.
 */
export function Avatar({ id, name, size = 40, className }: { id: string; name: string; size?: number; className?: string }) {
  const picture = useUiStore((s) => s.avatarUrls[id]);
  const ref = useRef<HTMLSpanElement>(null);
  useEffect(() => (ref.current && !picture ? requestWhenVisible(ref.current, id) : undefined), [id, picture]);
  return (
    <span
      ref={ref}
      aria-hidden="true"
      data-avatar-id={id}
      className={cn("inline-flex shrink-0 select-none items-center justify-center overflow-hidden rounded-full font-semibold text-white", className)}
      style={{ width: size, height: size, fontSize: size * 0.4, background: `hsl(${hueFor(id)} 55% 45%)` }}
    >
      {picture ? <img src={picture} alt="" className="h-full w-full object-cover" /> : initials(name)}
    </span>
  );
}
