"""Gradio tab builders for the workbench. Only ``app.py`` and this package import gradio.

Each tab module exposes ``build(ctx)``, called inside its ``gr.Tab``, and keeps its handlers as
plain methods of a class so tests can call them without a browser.
"""
