#!/usr/bin/env python3
"""Run with the Debian python (/usr/bin/python3), which has python3-xlib.

Does to the app's window what a window manager does for a user, on an X display without
one (Xvfb): reads where it is and whether it is shown, moves and resizes it, and asks it to
close (WM_DELETE_WINDOW, the close button). Prints JSON.

    x11.py TITLE state
    x11.py TITLE place X Y WIDTH HEIGHT
    x11.py TITLE close
"""

import json
import sys

from Xlib import X, display, protocol


def toplevels(d, title):
    """The application windows named `title` (not GTK's small helper windows)."""
    found = []
    for window in d.screen().root.query_tree().children:
        try:
            name = window.get_wm_name()
            geometry = window.get_geometry()
        except Exception:  # a window gone while we looked
            continue
        if name == title and geometry.width > 100 and geometry.height > 100:
            found.append(window)
    return found


def state(window):
    geometry = window.get_geometry()
    attributes = window.get_attributes()
    return {
        "shown": attributes.map_state == X.IsViewable,
        "x": geometry.x,
        "y": geometry.y,
        "width": geometry.width,
        "height": geometry.height,
    }


def main(argv):
    if len(argv) < 3:
        sys.exit(__doc__)
    title, action = argv[1], argv[2]
    d = display.Display()
    windows = toplevels(d, title)
    if action == "state":
        print(json.dumps([state(w) for w in windows]))
        return
    if len(windows) != 1:
        sys.exit(f"expected one window named {title!r}, found {len(windows)}")
    window = windows[0]
    if action == "place":
        x, y, width, height = (int(v) for v in argv[3:7])
        window.configure(x=x, y=y, width=width, height=height)
    elif action == "close":
        protocols = d.intern_atom("WM_PROTOCOLS")
        delete = d.intern_atom("WM_DELETE_WINDOW")
        message = protocol.event.ClientMessage(
            window=window, client_type=protocols, data=(32, [delete, X.CurrentTime, 0, 0, 0])
        )
        window.send_event(message, event_mask=X.NoEventMask)
    else:
        sys.exit(f"unknown action {action!r}\n{__doc__}")
    d.sync()
    print(json.dumps(state(window)))


if __name__ == "__main__":
    main(sys.argv)
