VALUE = "this file defines no handler, Handler or app"
