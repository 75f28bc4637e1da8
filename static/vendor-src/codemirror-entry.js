// Entry point of static/vendor/codemirror.min.js: CodeMirror 6 with the
// JavaScript and JSON languages, exposed as window.FlowkvEditor so the
// app's own script can turn a <textarea> into a highlighting editor.
// Rebuild: see static/README.md.
import { EditorView, basicSetup } from "codemirror";
import { javascript } from "@codemirror/lang-javascript";
import { json } from "@codemirror/lang-json";

window.FlowkvEditor = {
  // attach replaces textarea (kept in the form, hidden) by an editor whose
  // every change is written back to the textarea.
  attach(textarea, lang) {
    if (textarea.flowkvEditor) return textarea.flowkvEditor;
    const view = new EditorView({
      doc: textarea.value,
      extensions: [
        basicSetup,
        lang === "json" ? json() : javascript(),
        EditorView.lineWrapping,
        EditorView.updateListener.of((u) => {
          if (u.docChanged) {
            textarea.value = u.state.doc.toString();
            textarea.dispatchEvent(new Event("input", { bubbles: true }));
          }
        }),
      ],
    });
    textarea.parentNode.insertBefore(view.dom, textarea);
    textarea.hidden = true;
    textarea.flowkvEditor = view;
    return view;
  },
  // setValue replaces the text of an attached editor (or a plain textarea).
  setValue(textarea, text) {
    const view = textarea.flowkvEditor;
    if (!view) { textarea.value = text; return; }
    view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text } });
  },
};
