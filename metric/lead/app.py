import evaluate
from evaluate.utils import launch_gradio_widget

module = evaluate.load("lead.py")  # the script next to this file: the Space works under any repository id
launch_gradio_widget(module)
