// A router in forty lines: the History API, one hook, one link. Enough for eight pages, and
// no dependency shipped to every shopper.
import type { AnchorHTMLAttributes, ComponentChildren } from "preact";
import { useNotified } from "./subscribe";

const listeners = new Set<() => void>();

export function navigate(to: string, replace = false): void {
  if (replace) history.replaceState(null, "", to);
  else history.pushState(null, "", to);
  listeners.forEach((notify) => notify());
  if (!replace) window.scrollTo(0, 0);
}

addEventListener("popstate", () => listeners.forEach((notify) => notify()));

export interface Location {
  path: string;
  params: URLSearchParams;
}

export function useLocation(): Location {
  useNotified(listeners);
  return { path: location.pathname, params: new URLSearchParams(location.search) };
}

type AnchorProps = AnchorHTMLAttributes<HTMLAnchorElement> & { href: string; children?: ComponentChildren };

export function Link({ href, children, ...rest }: AnchorProps) {
  const onClick = (event: MouseEvent) => {
    if (event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey || event.altKey) return;
    event.preventDefault();
    navigate(href);
  };
  return <a href={href} onClick={onClick} {...rest}>{children}</a>;
}
