"""Notification channels, one module per type (``slack``, ``email``, ``pagerduty``, ``webhook``, ``telegram``,
``discord``, ``alertmanager``, ``log``); ``base`` holds what they share, ``registry`` maps type → class.

Adding a channel: a module here with an options model (``base.ChannelOptions``) and a ``base.Handler``
subclass implementing ``send``, plus one entry in ``registry.CHANNEL_TYPES``.
"""
