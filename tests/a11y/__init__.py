"""Accessibility of the console (WCAG 2.1 AA): axe-core on every page, keyboard-only paths."""
