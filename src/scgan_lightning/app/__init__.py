"""The local web app (``scgan-app``): photos and face crops restored in a browser page.

Gradio is the field's convention for such pages, and an optional dependency here (the ``app``
extra), so nothing in this package imports it at module level except ``page``, which only
``server`` loads, after it has made Gradio offline (``offline``). The work a page asks for is
done by plain functions over ``FaceRestorer`` (``photo``, ``crops``), testable without a server.
"""
